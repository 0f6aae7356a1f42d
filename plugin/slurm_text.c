/*
 * slurm_text.c: see slurm_text.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slurm_text.h"
#include "waiting.h"

/* The value of " Key=" in a one-line record, up to the next " Word=" or
 * the end of the line. */
static int find_value(const char *text, const char *key, char *buf,
		      size_t len)
{
	size_t klen = strlen(key);
	const char *p = text, *end;

	for (;;) {
		p = strstr(p, key);
		if (!p)
			return -1;
		if ((p == text || isspace((unsigned char)p[-1])) &&
		    p[klen] == '=')
			break;
		p += klen;
	}
	p += klen + 1;
	for (end = p; *end && *end != '\n'; end++) {
		const char *q = end + 1;

		if (!isspace((unsigned char)*end))
			continue;
		while (isalnum((unsigned char)*q) || *q == '_' || *q == ':' ||
		       *q == '/')
			q++;
		if (*q == '=' && q > end + 1)
			break;
	}
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	snprintf(buf, len, "%.*s", (int)(end - p), p);
	return 0;
}

/* Slurm prints times in the local zone, without one: 2026-11-25T16:49:56.
 * "Unknown", "None" and anything else unparsable give 0. */
static int64_t parse_time(const char *text)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && *end != '|' && !isspace((unsigned char)*end)))
		return 0;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	return t == (time_t)-1 ? 0 : (int64_t)t * 1000;
}

/* "2:15" -> exit 2, signal 15 */
static void parse_exit(const char *text, struct aml_slurm_job *job)
{
	char *colon;

	job->exit_code = (int)strtol(text, &colon, 10) & 0xff;
	job->signal = *colon == ':' ? (int)strtol(colon + 1, NULL, 10) : 0;
}

/* Copy the word at [p] (up to a blank or the end) into [buf]; returns
 * its length, or 0 when it does not fit (left ""). */
static size_t take_word(const char *p, char *buf, size_t len)
{
	size_t n = strcspn(p, " \n");

	if (n >= len)
		return 0;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

/*
 * "AdminComment=aml run_id=<id> mlflow_run_id=<key> experiment=<exp>":
 * the controller's words are read only at their fixed places after the
 * head, not wherever the user's own Comment may spell them.
 */
static void parse_admin_comment(const char *text, struct aml_slurm_job *job)
{
	static const char head[] = "AdminComment=aml run_id=";
	static const char word[] = " mlflow_run_id=";
	static const char exp[] = " experiment=";
	const char *p = text;

	while ((p = strstr(p, head)) && p != text &&
	       !isspace((unsigned char)p[-1]))
		p++;
	if (!p)
		return;
	p += strlen(head);
	take_word(p, job->run_id, sizeof(job->run_id));
	p += strcspn(p, " \n");
	if (!strncmp(p, word, strlen(word))) {
		p += strlen(word);
		take_word(p, job->tracking_id, sizeof(job->tracking_id));
		p += strcspn(p, " \n");
	}
	if (!strncmp(p, exp, strlen(exp)))
		take_word(p + strlen(exp), job->experiment,
			  sizeof(job->experiment));
}

int aml_slurm_parse_scontrol(const char *text, struct aml_slurm_job *job)
{
	char value[256];

	memset(job, 0, sizeof(*job));
	if (find_value(text, "JobState", value, sizeof(value)) < 0 || !*value)
		return -1;
	snprintf(job->state, sizeof(job->state), "%.31s", value);
	if (find_value(text, "ExitCode", value, sizeof(value)) == 0)
		parse_exit(value, job);
	if (find_value(text, "Restarts", value, sizeof(value)) == 0)
		job->restarts = (unsigned)strtoul(value, NULL, 10);
	if (find_value(text, "Requeue", value, sizeof(value)) == 0)
		job->requeue = !strcmp(value, "1");
	if (find_value(text, "EndTime", value, sizeof(value)) == 0)
		job->end_ms = parse_time(value);
	if (find_value(text, "Reason", value, sizeof(value)) == 0 &&
	    strcmp(value, "None"))
		snprintf(job->reason, sizeof(job->reason), "%.127s", value);
	parse_admin_comment(text, job);
	if (find_value(text, AML_SPOOLED_KEY, value, sizeof(value)) == 0)
		snprintf(job->spooled_on, sizeof(job->spooled_on), "%.255s",
			 value);
	return 0;
}

int aml_slurm_parse_version(const char *text, char *buf, size_t len)
{
	size_t end = strcspn(text, "\n"), start = end, dots = 0;

	while (start > 0 && text[start - 1] != ' ')
		start--;
	if (end == start || end - start >= len ||
	    strncmp(text, "slurm", 5) != 0)
		return -1;
	for (size_t i = start; i < end; i++) {
		if (text[i] == '.')
			dots++;
		else if (text[i] < '0' || text[i] > '9')
			return -1;
	}
	if (dots != 2 || text[start] == '.' || text[end - 1] == '.')
		return -1;
	memcpy(buf, text + start, end - start);
	buf[end - start] = '\0';
	return 0;
}

int aml_slurm_parse_sacct(const char *line, struct aml_slurm_job *job)
{
	const char *bar = strchr(line, '|');
	size_t n;

	memset(job, 0, sizeof(*job));
	if (!bar || bar == line)
		return -1;
	/* "CANCELLED by 1000" and "RUNNING+" name the same base state. */
	n = strcspn(line, " +|");
	if (n == 0 || n >= sizeof(job->state))
		return -1;
	memcpy(job->state, line, n);
	job->state[n] = '\0';
	if (!isdigit((unsigned char)bar[1]))
		return -1;
	parse_exit(bar + 1, job);
	bar = strchr(bar + 1, '|');
	if (bar)
		job->end_ms = parse_time(bar + 1);
	return 0;
}
