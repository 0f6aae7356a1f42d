/*
 * admin_comment.c: the run's words in its job's admin comment (contract
 * in admin_comment.h).
 */
#include "admin_comment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runid.h"
#include "text.h"

char *aml_admin_comment_make(const struct aml_plan *plan)
{
	char *text;

	if (!plan || !plan->comment || !plan->target ||
	    asprintf(&text, "%s target=%s nodes=%u tasks=%u tpn=%u",
		     plan->comment, plan->target, plan->min_nodes,
		     plan->num_tasks, (unsigned)plan->ntasks_per_node) < 0)
		return NULL;
	return text;
}

int aml_admin_comment_word(const char *comment, const char *key, char *buf,
			   size_t len)
{
	size_t klen = strlen(key), n;
	const char *p = comment;

	while ((p = strstr(p, key))) {
		if ((p == comment || p[-1] == ' ') && p[klen] == '=')
			break;
		p += klen;
	}
	if (!p)
		return -1;
	p += klen + 1;
	n = strcspn(p, " ");
	if (n == 0 || n >= len)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int aml_admin_comment_number(const char *comment, const char *key,
			     uint32_t *out)
{
	char word[16];
	unsigned long v;

	if (aml_admin_comment_word(comment, key, word, sizeof(word)) < 0 ||
	    aml_parse_decimal(word, UINT32_MAX, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int aml_admin_comment_run_id(const char *admin_comment, char *buf, size_t len)
{
	if (!admin_comment || strncmp(admin_comment, "aml run_id=", 11) ||
	    aml_admin_comment_word(admin_comment, "run_id", buf, len) < 0 ||
	    !aml_runid_is_valid(buf))
		return -1;
	return 0;
}
