/*
 * launch_cause.c: the real cause of a kill (see launch_cause.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "launch_cause.h"
#include "status.h"

/* The launcher's memory cgroup directory, from /proc/self/cgroup: the
 * v1 "memory" hierarchy, or the v2 unified one. */
static int memory_cgroup(char *dir, size_t len, int *v2)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	int found = -1;

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		char *path;

		line[strcspn(line, "\n")] = '\0';
		if ((path = strstr(line, ":memory:")) ||
		    (path = strstr(line, ":memory,"))) {
			path = strchr(path + 1, ':') + 1;
			*v2 = 0;
			found = snprintf(dir, len, "/sys/fs/cgroup/memory%s",
					 path) < (int)len ? 0 : -1;
		} else if (!strncmp(line, "0::", 3)) {
			*v2 = 1;
			if (snprintf(dir, len, "/sys/fs/cgroup%s", line + 3) >=
			    (int)len)
				break;
			/* A v1 memory line may still follow. */
		}
	}
	fclose(f);
	return found == 0 || *v2 ? 0 : -1;
}

/* The number after [key] in the key/value file [path], 0 when absent. */
static unsigned long long counter(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char name[64];
	unsigned long long value, found = 0;

	if (!f)
		return 0;
	while (fscanf(f, "%63s %llu", name, &value) == 2)
		if (!strcmp(name, key))
			found = value;
	fclose(f);
	return found;
}

/* oom_kill of the v1 memory cgroup [dir] and every cgroup below it, to
 * [depth] levels: the kernel counts a kill in the victim's own cgroup
 * only, and Slurm nests job_<id>/step_<name>/task_<n>. */
static unsigned long long oom_kills_below(const char *dir, int depth)
{
	char path[4096];
	unsigned long long kills = 0;
	struct dirent *e;
	DIR *d;

	if (snprintf(path, sizeof(path), "%s/memory.oom_control", dir) <
	    (int)sizeof(path))
		kills = counter(path, "oom_kill");
	if (depth == 0 || !(d = opendir(dir)))
		return kills;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && (!strncmp(e->d_name, "step_", 5) ||
					    !strncmp(e->d_name, "task_", 5)) &&
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
			    (int)sizeof(path))
			kills += oom_kills_below(path, depth - 1);
	closedir(d);
	return kills;
}

/*
 * OOM kills in the job's memory cgroup (.../job_<id>, found above the
 * launcher's own): in v2 its memory.events counts its descendants too.
 */
static unsigned long long oom_kills(uint32_t job_id)
{
	char dir[4096], job[32], path[4200];
	char *at;
	int v2 = 0;

	if (memory_cgroup(dir, sizeof(dir), &v2) < 0)
		return 0;
	snprintf(job, sizeof(job), "/job_%u/", job_id);
	if (!(at = strstr(dir, job)))
		return 0;
	at[strlen(job) - 1] = '\0';
	if (v2) {
		snprintf(path, sizeof(path), "%s/memory.events", dir);
		return counter(path, "oom_kill");
	}
	return oom_kills_below(dir, 2);
}

void launch_cause_refine(uint32_t job_id, const struct launch_outcome *o,
			 struct launch_verdict *v)
{
	char what[sizeof(v->reason)];
	unsigned long long kills;
	size_t len;

	if (!job_id || o->stop != LAUNCH_STOP_NONE)
		return;
	if (v->status != AML_STATUS_FAILED || !(kills = oom_kills(job_id)))
		return;
	/* The launcher's words (which process, which signal) stay, after
	 * the cause. */
	memcpy(what, v->reason, sizeof(what));
	len = (size_t)snprintf(v->reason, sizeof(v->reason),
			       "out of memory: the kernel's OOM killer ended "
			       "%llu process%s of the run at the job's memory "
			       "limit (Slurm's --mem); ",
			       kills, kills == 1 ? "" : "es");
	if (len < sizeof(v->reason))
		snprintf(v->reason + len, sizeof(v->reason) - len, "%.*s",
			 (int)(sizeof(v->reason) - len - 1), what);
}
