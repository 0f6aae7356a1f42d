/*
 * waiting.c: a run whose own end waits in a node's spool (waiting.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"
#include "waiting.h"

/* The value of the spooled_on word of [comment] ([*len] bytes), or
 * NULL when it has none. */
static const char *mark_value(const char *comment, size_t *len)
{
	const size_t klen = strlen(AML_SPOOLED_KEY);
	const char *p = comment;

	while ((p = strstr(p, AML_SPOOLED_KEY))) {
		if ((p == comment || p[-1] == ' ') && p[klen] == '=') {
			p += klen + 1;
			*len = strcspn(p, " ");
			return p;
		}
		p += klen;
	}
	return NULL;
}

/* Whether the comma-separated [list] ([len] bytes) names [node]. */
static int list_has(const char *list, size_t len, const char *node)
{
	size_t n = strlen(node);

	for (size_t i = 0; i < len;) {
		size_t item = strcspn(list + i, ",");

		if (item > len - i)
			item = len - i;
		if (item == n && !memcmp(list + i, node, n))
			return 1;
		i += item + 1;
	}
	return 0;
}

void aml_waiting_nodes(const char *comment, char *buf, size_t len)
{
	const char *value;
	size_t n = 0;

	if (!buf || !len)
		return;
	buf[0] = '\0';
	value = comment ? mark_value(comment, &n) : NULL;
	if (value)
		snprintf(buf, len, "%.*s", (int)n, value);
}

int aml_waiting_added(const char *before, const char *after,
		      const char *except)
{
	if (!after)
		return 0;
	for (const char *p = after; *p;) {
		size_t n = strcspn(p, ",");
		char node[256];

		if (n && n < sizeof(node)) {
			memcpy(node, p, n);
			node[n] = '\0';
			if ((!except || strcmp(node, except)) &&
			    !(before && list_has(before, strlen(before), node)))
				return 1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

char *aml_waiting_mark_comment(const char *comment, const char *node)
{
	const char *value;
	size_t len;
	char *out;

	if (!node || !*node || strpbrk(node, " \t\n,="))
		return NULL;
	if (!comment)
		comment = "";
	value = mark_value(comment, &len);
	if (value && list_has(value, len, node))
		return strdup(comment);
	if (value) {
		size_t head = (size_t)(value - comment) + len;

		if (asprintf(&out, "%.*s%s%s%s", (int)head, comment,
			     len ? "," : "", node, comment + head) < 0)
			return NULL;
		return out;
	}
	if (asprintf(&out, "%s%s%s=%s", comment, *comment ? " " : "",
		     AML_SPOOLED_KEY, node) < 0)
		return NULL;
	return out;
}

/* " since 22:39", or " since 2026-12-06 22:39" when not today; "" for
 * an unknown time. */
static void since_text(int64_t since_ms, char *buf, size_t len)
{
	time_t then = (time_t)(since_ms / 1000), now = time(NULL);
	struct tm t, today;

	buf[0] = '\0';
	if (since_ms <= 0 || !localtime_r(&then, &t) ||
	    !localtime_r(&now, &today))
		return;
	if (t.tm_year == today.tm_year && t.tm_yday == today.tm_yday)
		strftime(buf, len, " since %H:%M", &t);
	else
		strftime(buf, len, " since %Y-%m-%d %H:%M", &t);
}

void aml_waiting_reason(const char *nodes, int64_t since_ms, char *buf,
			size_t len)
{
	int several = nodes && strchr(nodes, ',');
	char since[40];

	since_text(since_ms, since, sizeof(since));
	snprintf(buf, len, "outputs and events of node%s %s are waiting in "
		 "%s%s (run history unavailable there)", several ? "s" : "",
		 nodes && *nodes ? nodes : "?",
		 several ? "their spools" : "its spool", since);
}

enum aml_waiting_verdict aml_waiting_judge(enum aml_status status,
					   const char *slurm_state,
					   int signal, const char *spooled_on)
{
	int on_its_own = slurm_state &&
			 (aml_ascii_ieq(slurm_state, "COMPLETED") ||
			  (aml_ascii_ieq(slurm_state, "FAILED") && !signal));

	if (!on_its_own || aml_status_is_terminal(status))
		return AML_END_FROM_SLURM;
	if (status == AML_STATUS_FINALIZING)
		return AML_END_WAIT;
	if (!spooled_on || !*spooled_on)
		return AML_END_FROM_SLURM;
	/* Shown as finalizing once it ran; a run still Queued or Preparing
	 * here has its Running queued too, and waits as it is. */
	return aml_status_phase(status) >= aml_status_phase(AML_STATUS_RUNNING)
		       ? AML_END_MARK_WAITING
		       : AML_END_WAIT;
}
