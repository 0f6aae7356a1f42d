/*
 * mlflow_error.c: what a failed answer of MLflow's tracking API says
 * (contract in mlflow_error.h).
 */
#include "mlflow_error.h"
#include "http.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#define SHOWN_MAX 304 /* ~300 characters of a server's text, then "..." */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where [needle] (lower case) first occurs in [hay] of [n] bytes, any
 * case; NULL when nowhere. */
static const char *find_ci(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;

		while (j < k && aml_ascii_lower((unsigned char)hay[i + j]) ==
				needle[j])
			j++;
		if (j == k)
			return hay + i;
	}
	return NULL;
}

/* [n] bytes of [s] into [shown], NUL-free, escaped and cut. */
static void show(const char *s, size_t n, char *shown)
{
	char raw[1024];

	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	memcpy(raw, s, n);
	raw[n] = '\0';
	aml_text_escape(raw, shown, SHOWN_MAX);
}

/* MLflow's {"error_code","message"} or Azure's {"error":{"code",
 * "message"}}; -1 when the body is neither. */
static int json_error_line(long status, const char *body, size_t len,
			   char *buf, size_t buflen)
{
	cJSON *json = cJSON_ParseWithLength(body, len);
	const cJSON *err, *code, *msg;
	char shown_code[80], shown_msg[SHOWN_MAX];

	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return -1;
	}
	err = cJSON_GetObjectItemCaseSensitive(json, "error");
	if (cJSON_IsObject(err)) {
		code = cJSON_GetObjectItemCaseSensitive(err, "code");
		msg = cJSON_GetObjectItemCaseSensitive(err, "message");
	} else {
		code = cJSON_GetObjectItemCaseSensitive(json, "error_code");
		msg = cJSON_GetObjectItemCaseSensitive(json, "message");
	}
	if (!cJSON_IsString(code)) {
		cJSON_Delete(json);
		return -1;
	}
	aml_text_escape(code->valuestring, shown_code, sizeof(shown_code));
	if (cJSON_IsString(msg) && *msg->valuestring) {
		aml_text_escape(msg->valuestring, shown_msg, sizeof(shown_msg));
		snprintf(buf, buflen, "HTTP %ld %s: %s", status, shown_code,
			 shown_msg);
	} else {
		snprintf(buf, buflen, "HTTP %ld %s", status, shown_code);
	}
	cJSON_Delete(json);
	return 0;
}

/* The <title> text, blanks squeezed, a leading "<status> " dropped
 * (Flask writes "405 Method Not Allowed"); "" when there is none. */
static void html_title(long status, const char *body, size_t len,
		       char *title, size_t size)
{
	const char *open = find_ci(body, len, "<title"), *start, *close;
	char number[24];
	size_t n = 0, numlen;

	title[0] = '\0';
	if (!open)
		return;
	start = memchr(open, '>', len - (size_t)(open - body));
	if (!start)
		return;
	start++;
	close = find_ci(start, len - (size_t)(start - body), "</title");
	if (!close)
		return;
	for (const char *p = start; p < close && n + 1 < size; p++) {
		if (is_space(*p) || *p == '\0') {
			if (n && title[n - 1] != ' ')
				title[n++] = ' ';
		} else {
			title[n++] = *p;
		}
	}
	while (n && title[n - 1] == ' ')
		n--;
	title[n] = '\0';
	numlen = (size_t)snprintf(number, sizeof(number), "%ld", status);
	/* A byte loop, not memmove: valgrind takes the fortified memmove
	 * of this glibc for a memcpy and reports the overlap. */
	if (strncmp(title, number, numlen) == 0 && title[numlen] == ' ')
		for (size_t i = 0; i + numlen < n; i++)
			title[i] = title[i + numlen + 1];
}

static void html_line(long status, const char *body, size_t len, char *buf,
		      size_t buflen)
{
	char title[1024], shown[SHOWN_MAX];

	html_title(status, body, len, title, sizeof(title));
	if (!*title) {
		snprintf(buf, buflen, "HTTP %ld (HTML page from the server)",
			 status);
		return;
	}
	aml_text_escape(title, shown, sizeof(shown));
	snprintf(buf, buflen, "HTTP %ld %s (HTML page from the server)", status,
		 shown);
}

/* The first line that holds more than blanks. */
static void text_line(long status, const char *body, size_t len, char *buf,
		      size_t buflen)
{
	const char *p = body, *end = body + len;
	char shown[SHOWN_MAX];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		while (p < e && is_space(*p))
			p++;
		while (e > p && is_space(e[-1]))
			e--;
		if (e > p) {
			show(p, (size_t)(e - p), shown);
			snprintf(buf, buflen, "HTTP %ld: %s", status, shown);
			return;
		}
		p = nl ? nl + 1 : end;
	}
	snprintf(buf, buflen, "HTTP %ld (empty answer)", status);
}

static int is_html(const char *content_type, const char *body)
{
	while (content_type && *content_type == ' ')
		content_type++;
	/* aml_ascii_ieq_n stops at [content_type]'s NUL, so a shorter one
	 * is safe. */
	return (content_type &&
		aml_ascii_ieq_n(content_type, strlen("text/html"),
				"text/html")) ||
	       body[0] == '<';
}

void aml_mlflow_error_line(long http_status, const char *content_type,
			   const char *body, size_t len, char *buf,
			   size_t buflen)
{
	const char *p = body, *end = body ? body + len : NULL;

	if (!buf || buflen == 0)
		return;
	while (p && p < end && is_space(*p))
		p++;
	if (!p || p == end) {
		snprintf(buf, buflen, "HTTP %ld (empty answer)", http_status);
		return;
	}
	if (*p == '{' &&
	    json_error_line(http_status, p, (size_t)(end - p), buf, buflen) == 0)
		return;
	if (is_html(content_type, p))
		html_line(http_status, p, (size_t)(end - p), buf, buflen);
	else
		text_line(http_status, p, (size_t)(end - p), buf, buflen);
}

static int azure_throttled(const char *body, size_t len)
{
	cJSON *json;
	const cJSON *code;
	int throttled;

	while (len && is_space(*body)) {
		body++;
		len--;
	}
	if (!len || *body != '{')
		return 0;
	json = cJSON_ParseWithLength(body, len);
	code = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(json, "error"), "code");
	throttled = cJSON_IsString(code) &&
		    strcmp(code->valuestring, "RequestThrottled") == 0;
	cJSON_Delete(json);
	return throttled;
}

int aml_mlflow_retryable(long http_status, const char *body, size_t len)
{
	return aml_http_status_retryable(http_status) ||
	       (body && azure_throttled(body, len));
}
