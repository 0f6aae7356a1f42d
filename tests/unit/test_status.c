/*
 * test_status.c: run statuses and their state machine (plugin/status.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "status.h"

#define N AML_STATUS_COUNT
#define NS AML_STATUS_NOT_STARTED
#define QU AML_STATUS_QUEUED
#define PR AML_STATUS_PREPARING
#define RU AML_STATUS_RUNNING
#define FI AML_STATUS_FINALIZING
#define CR AML_STATUS_CANCEL_REQUESTED
#define NR AML_STATUS_NOT_RESPONDING
#define CO AML_STATUS_COMPLETED
#define FA AML_STATUS_FAILED
#define CA AML_STATUS_CANCELED

static const char *const verdict_names[] = {
	"OK", "NEW_ATTEMPT", "DUPLICATE", "STALE", "ILLEGAL",
};

static const char *verdict(enum aml_transition v)
{
	return (unsigned)v < 5 ? verdict_names[v] : "?";
}

/*
 * The machine of status.h written out again, on purpose: a change to it
 * must change this too.  Rows are "from", columns "to", in enum order:
 * NotStarted Queued Preparing Running Finalizing CancelRequested
 * NotResponding Completed Failed Canceled.  o: OK, d: DUPLICATE,
 * x: ILLEGAL.  Phases: NotStarted 0, Queued 1, Preparing 2, Running and
 * NotResponding 3, CancelRequested 4, Finalizing 5, the ends 6.
 */
static const char expected_table[N][N + 1] = {
	/*              NQPRFCNCFC */
	[NS] = "dooooooooo",
	[QU] = "xdoooooooo",
	[PR] = "xxdooooooo",
	[RU] = "xxxdoooooo",
	[FI] = "xxxxdxxooo",
	[CR] = "xxxxodxooo",
	[NR] = "xxxooodooo",
	[CO] = "xxxxxxxdxx",
	[FA] = "xxxxxxxxdx",
	[CA] = "xxxxxxxxxd",
};

static enum aml_transition expected_verdict(char c)
{
	switch (c) {
	case 'o': return AML_TRANSITION_OK;
	case 'd': return AML_TRANSITION_DUPLICATE;
	default: return AML_TRANSITION_ILLEGAL;
	}
}

static void check_table_at(unsigned attempt)
{
	for (int from = 0; from < N; from++) {
		for (int to = 0; to < N; to++) {
			enum aml_transition want =
				expected_verdict(expected_table[from][to]);
			enum aml_transition got = aml_status_check(
				(enum aml_status)from, attempt,
				(enum aml_status)to, attempt);

			if (got != want)
				fail_msg("%s -> %s (attempt %u): got %s, "
					 "expected %s",
					 aml_status_name((enum aml_status)from),
					 aml_status_name((enum aml_status)to),
					 attempt, verdict(got), verdict(want));
		}
	}
}

static void test_table_every_pair(void **state)
{
	(void)state;
	check_table_at(1);
}

static void test_table_same_in_later_attempts(void **state)
{
	(void)state;
	check_table_at(2);
	check_table_at(17);
}

static void test_terminal_duplicates(void **state)
{
	(void)state;
	/* Launcher and finalizer both report the end. */
	assert_int_equal(aml_status_check(CO, 1, CO, 1),
			 AML_TRANSITION_DUPLICATE);
	assert_int_equal(aml_status_check(FA, 3, FA, 3),
			 AML_TRANSITION_DUPLICATE);
	assert_int_equal(aml_status_check(CA, 2, CA, 2),
			 AML_TRANSITION_DUPLICATE);
	/* A different end is not a duplicate. */
	assert_int_equal(aml_status_check(CO, 1, FA, 1),
			 AML_TRANSITION_ILLEGAL);
}

static void test_new_attempt_from_every_status(void **state)
{
	(void)state;
	for (int from = 0; from < N; from++) {
		assert_int_equal(aml_status_check((enum aml_status)from, 1, QU,
						  2),
				 AML_TRANSITION_NEW_ATTEMPT);
		assert_int_equal(aml_status_check((enum aml_status)from, 4, QU,
						  5),
				 AML_TRANSITION_NEW_ATTEMPT);
		/* A requeue whose own Queued event was lost. */
		assert_int_equal(aml_status_check((enum aml_status)from, 1, QU,
						  3),
				 AML_TRANSITION_NEW_ATTEMPT);
	}
}

/* A later attempt starts with whichever of its events comes first (its
 * Queued may come later, or be lost), but never with NotStarted. */
static void test_later_attempt_starts_with_any(void **state)
{
	(void)state;
	for (int from = 0; from < N; from++) {
		for (int to = 0; to < N; to++) {
			enum aml_transition want =
				to == NS ? AML_TRANSITION_ILLEGAL
					 : AML_TRANSITION_NEW_ATTEMPT;
			enum aml_transition got = aml_status_check(
				(enum aml_status)from, 1, (enum aml_status)to,
				2);

			if (got != want)
				fail_msg("%s a1 -> %s a2: got %s",
					 aml_status_name((enum aml_status)from),
					 aml_status_name((enum aml_status)to),
					 verdict(got));
		}
	}
}

/* The phases are what the table above says, and orders every pair the
 * machine accepts within an attempt. */
static void test_phases_order_the_table(void **state)
{
	(void)state;
	assert_int_equal(aml_status_phase(NS), 0);
	assert_int_equal(aml_status_phase(QU), 1);
	assert_int_equal(aml_status_phase(PR), 2);
	assert_int_equal(aml_status_phase(RU), 3);
	assert_int_equal(aml_status_phase(NR), 3);
	assert_int_equal(aml_status_phase(CR), 4);
	assert_int_equal(aml_status_phase(FI), 5);
	assert_int_equal(aml_status_phase(CO), AML_STATUS_LAST_PHASE);
	assert_int_equal(aml_status_phase(FA), AML_STATUS_LAST_PHASE);
	assert_int_equal(aml_status_phase(CA), AML_STATUS_LAST_PHASE);
	assert_int_equal(aml_status_phase((enum aml_status)N),
			 AML_STATUS_LAST_PHASE);
	for (int from = 0; from < N; from++)
		for (int to = 0; to < N; to++)
			if (expected_table[from][to] == 'o' &&
			    aml_status_phase((enum aml_status)to) <
				    aml_status_phase((enum aml_status)from))
				fail_msg("%s -> %s goes back a phase",
					 aml_status_name((enum aml_status)from),
					 aml_status_name((enum aml_status)to));
}

static void test_older_attempt_is_stale(void **state)
{
	(void)state;
	for (int from = 0; from < N; from++) {
		for (int to = 0; to < N; to++) {
			enum aml_transition got;

			got = aml_status_check((enum aml_status)from, 2,
					       (enum aml_status)to, 1);
			if (got != AML_TRANSITION_STALE)
				fail_msg("%s a2 -> %s a1: got %s",
					 aml_status_name((enum aml_status)from),
					 aml_status_name((enum aml_status)to),
					 verdict(got));
		}
	}
	assert_int_equal(aml_status_check(RU, 9, CO, 3), AML_TRANSITION_STALE);
}

static void test_attempt_zero_is_illegal(void **state)
{
	(void)state;
	assert_int_equal(aml_status_check(QU, 0, RU, 0),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check(QU, 0, QU, 1),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check(QU, 1, RU, 0),
			 AML_TRANSITION_ILLEGAL);
	/* Would be stale, but an attempt 0 never exists. */
	assert_int_equal(aml_status_check(QU, 1, QU, 0),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check(CO, 0, CO, 0),
			 AML_TRANSITION_ILLEGAL);
}

static void test_out_of_range_status_is_illegal(void **state)
{
	(void)state;
	assert_int_equal(aml_status_check((enum aml_status)N, 1, QU, 1),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check(QU, 1, (enum aml_status)N, 1),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check(QU, 1, (enum aml_status)-1, 2),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check_first((enum aml_status)N, 1),
			 AML_TRANSITION_ILLEGAL);
	assert_non_null(aml_status_name((enum aml_status)N));
	assert_false(aml_status_is_terminal((enum aml_status)N));
}

static void test_check_first(void **state)
{
	(void)state;
	assert_int_equal(aml_status_check_first(NS, 1), AML_TRANSITION_OK);
	assert_int_equal(aml_status_check_first(NS, 0),
			 AML_TRANSITION_ILLEGAL);
	assert_int_equal(aml_status_check_first(NS, 2),
			 AML_TRANSITION_ILLEGAL);
	for (int to = 0; to < N; to++) {
		if (to == NS)
			continue;
		assert_int_equal(aml_status_check_first((enum aml_status)to,
							1),
				 AML_TRANSITION_ILLEGAL);
		assert_int_equal(aml_status_check_first((enum aml_status)to,
							2),
				 AML_TRANSITION_ILLEGAL);
	}
}

static void test_names_round_trip(void **state)
{
	static const char *const names[N] = {
		"NotStarted", "Queued", "Preparing", "Running", "Finalizing",
		"CancelRequested", "NotResponding", "Completed", "Failed",
		"Canceled",
	};

	(void)state;
	for (int i = 0; i < N; i++) {
		enum aml_status st = (enum aml_status)-1;

		assert_string_equal(aml_status_name((enum aml_status)i),
				    names[i]);
		assert_int_equal(aml_status_parse(names[i], &st), 0);
		assert_int_equal(st, i);
		assert_int_equal(aml_status_is_terminal((enum aml_status)i),
				 i == CO || i == FA || i == CA);
	}
}

static void test_parse_case_insensitive(void **state)
{
	static const struct {
		const char *text;
		enum aml_status want;
	} cases[] = {
		{ "completed", CO },        { "COMPLETED", CO },
		{ "notstarted", NS },       { "notStarted", NS },
		{ "CANCELREQUESTED", CR },  { "cancelrequested", CR },
		{ "NotResponding", NR },    { "running", RU },
		{ "canceled", CA },         { "fAiLeD", FA },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		enum aml_status st = (enum aml_status)-1;

		if (aml_status_parse(cases[i].text, &st) != 0 ||
		    st != cases[i].want)
			fail_msg("\"%s\": got %d", cases[i].text, (int)st);
	}
}

static void test_parse_unknown(void **state)
{
	static const char *const bad[] = {
		"", "Complete", "Completed ", " Completed", "Cancelled",
		"Not Started", "Not_Started", "Unknown", "Running\n", "Done",
		"Completedx",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		enum aml_status st = RU;

		if (aml_status_parse(bad[i], &st) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(st, RU);
	}
	assert_int_equal(aml_status_parse(NULL, NULL), -1);
}

/* ---- from Slurm ---- */

struct slurm_case {
	const char *state;
	int exit_code;
	int signal;
	int requeue_flag;
	enum aml_status want;
	int requeued;
	const char *in_reason;  /* must appear in the reason */
	const char *in_reason2; /* NULL or a second one */
};

/* [name]: the base Slurm state that must be named in parentheses. */
static void check_slurm(const struct slurm_case *c, const char *name)
{
	char reason[256], paren[64];
	enum aml_status st = (enum aml_status)-1;
	int requeued = -1;

	if (aml_status_from_slurm(c->state, c->exit_code, c->signal,
				  c->requeue_flag, &st, &requeued, reason,
				  sizeof(reason)) != 0)
		fail_msg("\"%s\": refused", c->state);
	if (st != c->want || requeued != c->requeued)
		fail_msg("\"%s\" (exit %d, signal %d, requeue %d): got %s, "
			 "requeued %d", c->state, c->exit_code, c->signal,
			 c->requeue_flag, aml_status_name(st), requeued);
	snprintf(paren, sizeof(paren), "(%s)", name);
	if (!strstr(reason, paren))
		fail_msg("\"%s\": reason \"%s\" does not name %s", c->state,
			 reason, paren);
	if (strchr(reason, '\n') || reason[strlen(reason) - 1] != ')' ||
	    reason[0] < 'A' || reason[0] > 'Z')
		fail_msg("\"%s\": reason \"%s\" is not one sentence",
			 c->state, reason);
	if (!strstr(reason, c->in_reason) ||
	    (c->in_reason2 && !strstr(reason, c->in_reason2)))
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"%s%s", c->state,
			 reason, c->in_reason, c->in_reason2 ? " or " : "",
			 c->in_reason2 ? c->in_reason2 : "");
}

static void test_from_slurm_finished_states(void **state)
{
	static const struct slurm_case cases[] = {
		{ "COMPLETED", 0, 0, 0, CO, 0, "code 0", NULL },
		{ "COMPLETED", 3, 0, 0, FA, 0, "exited with code 3", NULL },
		{ "COMPLETED", 0, 15, 0, FA, 0, "SIGTERM", "signal 15" },
		{ "FAILED", 1, 0, 0, FA, 0, "exited with code 1", NULL },
		{ "FAILED", 0, 9, 0, FA, 0, "SIGKILL", "signal 9" },
		{ "FAILED", 0, 64, 0, FA, 0, "signal 64", NULL },
		{ "FAILED", 0, 0, 0, FA, 0, "failed", NULL },
		{ "CANCELLED", 0, 15, 0, CA, 0, "cancelled", "scancel" },
		{ "TIMEOUT", 0, 0, 0, CA, 0, "time limit", NULL },
		{ "DEADLINE", 0, 0, 0, CA, 0, "deadline", NULL },
		{ "NODE_FAIL", 0, 0, 0, FA, 0, "node", "failed" },
		{ "NODE_FAIL", 0, 0, 1, QU, 1, "node", "requeued" },
		{ "PREEMPTED", 0, 0, 0, CA, 0, "preempted", NULL },
		{ "PREEMPTED", 0, 0, 1, QU, 1, "preempted", "requeued" },
		{ "BOOT_FAIL", 0, 0, 0, FA, 0, "boot", NULL },
		{ "OUT_OF_MEMORY", 0, 9, 0, FA, 0, "out of memory", NULL },
		{ "REQUEUED", 0, 0, 0, QU, 1, "requeued", NULL },
		{ "REQUEUE_FED", 0, 0, 0, QU, 1, "requeued", "federation" },
		{ "REQUEUE_HOLD", 0, 0, 0, QU, 1, "requeued", "hold" },
		{ "SPECIAL_EXIT", 5, 0, 0, FA, 0, "exited with code 5",
		  "special exit" },
		/* The flag only means something where Slurm requeues. */
		{ "FAILED", 1, 0, 1, FA, 0, "exited with code 1", NULL },
		{ "TIMEOUT", 0, 0, 1, CA, 0, "time limit", NULL },
		{ "COMPLETED", 0, 0, 1, CO, 0, "code 0", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		check_slurm(&cases[i], cases[i].state);
}

static void test_from_slurm_sacct_forms(void **state)
{
	static const struct {
		struct slurm_case c;
		const char *name;
	} cases[] = {
		{ { "CANCELLED by 1000", 0, 0, 0, CA, 0, "cancelled", NULL },
		  "CANCELLED" },
		{ { "CANCELLED by 0", 0, 0, 0, CA, 0, "scancel", NULL },
		  "CANCELLED" },
		{ { "CANCELLED+", 0, 0, 0, CA, 0, "cancelled", NULL },
		  "CANCELLED" },
		{ { "COMPLETED+", 0, 0, 0, CO, 0, "code 0", NULL },
		  "COMPLETED" },
		{ { "cancelled by 1000", 0, 0, 0, CA, 0, "cancelled", NULL },
		  "CANCELLED" },
		{ { "Timeout", 0, 0, 0, CA, 0, "time limit", NULL },
		  "TIMEOUT" },
		{ { "node_fail", 0, 0, 1, QU, 1, "requeued", NULL },
		  "NODE_FAIL" },
		{ { "Out_Of_Memory", 0, 0, 0, FA, 0, "out of memory", NULL },
		  "OUT_OF_MEMORY" },
		{ { "completed", 2, 0, 0, FA, 0, "exited with code 2", NULL },
		  "COMPLETED" },
		{ { "requeued", 0, 0, 0, QU, 1, "requeued", NULL },
		  "REQUEUED" },
	};
	char reason[256];
	enum aml_status st;
	int requeued;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		check_slurm(&cases[i].c, cases[i].name);
	/* The uid is sacct's decoration, not part of the story. */
	assert_int_equal(aml_status_from_slurm("CANCELLED by 1000", 0, 0, 0,
					       &st, &requeued, reason,
					       sizeof(reason)), 0);
	assert_null(strstr(reason, "1000"));
}

static void test_from_slurm_unfinished_and_unknown(void **state)
{
	static const char *const states[] = {
		"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
		"RESV_DEL_HOLD", "pending", "RUNNING+", "", " ", "+", "BOGUS",
		"COMPLETEDX", "COMPLETE", "CANCELED", "by 1000",
		"A_STATE_NAME_FAR_TOO_LONG_TO_BE_ONE_OF_SLURMS",
	};
	char reason[64];

	(void)state;
	for (size_t i = 0; i < sizeof(states) / sizeof(*states); i++) {
		enum aml_status st = RU;
		int requeued = 7;

		strcpy(reason, "untouched");
		if (aml_status_from_slurm(states[i], 0, 0, 1, &st, &requeued,
					  reason, sizeof(reason)) != -1)
			fail_msg("\"%s\": accepted as %s", states[i],
				 aml_status_name(st));
		assert_int_equal(st, RU);
		assert_int_equal(requeued, 0);
		assert_string_equal(reason, "");
	}
	assert_int_equal(aml_status_from_slurm(NULL, 0, 0, 0, NULL, NULL, NULL,
					       0), -1);
}

static void test_from_slurm_small_or_no_reason_buffer(void **state)
{
	char reason[12];
	enum aml_status st;
	int requeued;

	(void)state;
	memset(reason, 'x', sizeof(reason));
	assert_int_equal(aml_status_from_slurm("TIMEOUT", 0, 0, 0, &st,
					       &requeued, reason,
					       sizeof(reason)), 0);
	assert_int_equal(st, CA);
	assert_int_equal(strlen(reason), sizeof(reason) - 1);
	assert_int_equal(aml_status_from_slurm("NODE_FAIL", 0, 0, 1, &st, NULL,
					       NULL, 0), 0);
	assert_int_equal(st, QU);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_every_pair),
		cmocka_unit_test(test_table_same_in_later_attempts),
		cmocka_unit_test(test_terminal_duplicates),
		cmocka_unit_test(test_new_attempt_from_every_status),
		cmocka_unit_test(test_later_attempt_starts_with_any),
		cmocka_unit_test(test_phases_order_the_table),
		cmocka_unit_test(test_older_attempt_is_stale),
		cmocka_unit_test(test_attempt_zero_is_illegal),
		cmocka_unit_test(test_out_of_range_status_is_illegal),
		cmocka_unit_test(test_check_first),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_parse_case_insensitive),
		cmocka_unit_test(test_parse_unknown),
		cmocka_unit_test(test_from_slurm_finished_states),
		cmocka_unit_test(test_from_slurm_sacct_forms),
		cmocka_unit_test(test_from_slurm_unfinished_and_unknown),
		cmocka_unit_test(test_from_slurm_small_or_no_reason_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
