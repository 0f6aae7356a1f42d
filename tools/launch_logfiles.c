/*
 * launch_logfiles.c: see launch_logfiles.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "launch_logfiles.h"

void launch_log_name(int labelled, size_t rank, char *buf, size_t len)
{
	if (labelled)
		snprintf(buf, len, "std_log_process_%zu.txt", rank);
	else
		snprintf(buf, len, "std_log.txt");
}

struct launch_logfile *launch_logfiles_get(struct launch_logfiles *t,
					   size_t rank)
{
	if (rank >= t->n) {
		size_t n = t->n ? t->n : 16;
		struct launch_logfile *grown;

		while (n <= rank)
			n *= 2;
		grown = realloc(t->by_rank, n * sizeof(*grown));
		if (!grown)
			return NULL;
		for (size_t i = t->n; i < n; i++)
			grown[i] = (struct launch_logfile){ -1, 0 };
		t->by_rank = grown;
		t->n = n;
	}
	return &t->by_rank[rank];
}

void launch_logfiles_make_room(struct launch_logfiles *t)
{
	if (t->n_open < LAUNCH_OPEN_LOGS_MAX)
		return;
	for (size_t i = 0; i < t->n; i++) {
		size_t at = (t->hand + i) % t->n;

		if (t->by_rank[at].fd >= 0) {
			launch_logfiles_close(t, &t->by_rank[at]);
			t->hand = (at + 1) % t->n;
			return;
		}
	}
}

void launch_logfiles_opened(struct launch_logfiles *t,
			    struct launch_logfile *f, int fd)
{
	f->fd = fd;
	t->n_open++;
}

void launch_logfiles_close(struct launch_logfiles *t,
			   struct launch_logfile *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	t->n_open--;
}

void launch_logfiles_free(struct launch_logfiles *t)
{
	for (size_t i = 0; i < t->n; i++)
		launch_logfiles_close(t, &t->by_rank[i]);
	free(t->by_rank);
	*t = (struct launch_logfiles)LAUNCH_LOGFILES_INIT;
}
