/*
 * aml-epilog: at every job's end on a node, deliver what the node's spools
 * hold to run history, for every user, as each user.
 *
 * Slurm runs it as root on each node of a job once the job has ended
 * (Epilog= in slurm.conf), with the job in its environment: SLURM_JOB_ID,
 * SLURM_JOB_UID, SLURM_JOB_GID.  Writes run history could not take while
 * the job ran (its filesystem away, full or read-only, its server down)
 * wait in the user's spool on the node; this delivers them without the
 * user ever coming back: the job's user's first, then everyone else's
 * that earlier jobs left, within --seconds in all (node_spools.h).
 *
 * Then the run directories the node keeps because their outputs reached
 * neither run history nor the spool when their job ended
 * (node_rundir.h): each is uploaded again, as its owner, and removed once
 * delivered; every user's in turn, from a different one each time.  The
 * spools get at most half of --seconds, the run directories the rest.
 *
 * It always exits 0 when Slurm runs it: a failing Epilog drains the node,
 * and nothing here is worth a node.  Problems and what was delivered go
 * to syslog (daemon facility) and stderr.  Run by hand (no SLURM_JOB_ID),
 * it delivers every user's spool and every kept run directory (of every
 * node name: no SLURMD_NODENAME), and exits 1 when something is left.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "bounded.h"
#include "history.h"
#include "node_rundir.h"
#include "node_spools.h"
#include "site.h"
#include "tools.h"

#define DEFAULT_SECONDS 10

static const char usage[] =
	"Usage: aml-epilog [--seconds=N]\n"
	"\n"
	"Deliver to run history what the spools on this node hold (writes run\n"
	"history could not take when they were made), each user's as that user:\n"
	"first the user's of the job that ended (SLURM_JOB_UID), then everyone\n"
	"else's.  Then deliver the run directories the node kept because their\n"
	"outputs could not be delivered when their job ended, and remove them.\n"
	"Run by Slurm as the Epilog, as root.\n"
	"\n"
	"  --seconds=N    stop after N seconds in all (default 10); what is\n"
	"                 left waits for the next job's end here\n"
	"\n"
	"See aml-epilog(8).\n";

static void say(void *ctx, int level, const char *line)
{
	(void)ctx;
	fprintf(stderr, "aml-epilog: %s\n", line);
	syslog(level, "%s", line);
}

int main(int argc, char **argv)
{
	const char *job = getenv("SLURM_JOB_ID");
	const char *uid_text = getenv("SLURM_JOB_UID");
	const char *gid_text = getenv("SLURM_JOB_GID");
	/* slurmd's name for this node, as the node side names its
	 * directories; by hand, every node's directories found here. */
	const char *node = getenv("SLURMD_NODENAME");
	struct aml_node_spools_stats st = { 0 };
	struct aml_node_rundir_stats rs = { 0 };
	int64_t started, deadline;
	unsigned start;
	int left = 0;
	struct aml_site site;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	long seconds = DEFAULT_SECONDS;
	char err[1024];
	/* Under Slurm, never fail: a failing Epilog drains the node. */
	int failure = job && *job ? 0 : 1;

	aml_tool_use_mlflow_module();
	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (strncmp(argv[i], "--seconds=", 10)) {
			fputs(usage, stderr);
			return 64;
		}
		seconds = strtol(argv[i] + 10, &end, 10);
		if (end == argv[i] + 10 || *end || seconds < 1 ||
		    seconds > 3600) {
			fprintf(stderr, "aml-epilog: --seconds: a whole number "
				"of seconds from 1 to 3600, got \"%s\"\n",
				argv[i] + 10);
			return 64;
		}
	}
	openlog("aml-epilog", LOG_PID, LOG_DAEMON);
	if (geteuid() != 0) {
		say(NULL, LOG_ERR, "must run as root (Slurm's Epilog is): it "
		    "delivers every user's spool as that user");
		return failure;
	}
	if (uid_text && *uid_text) {
		struct passwd *pw;

		uid = (uid_t)strtoul(uid_text, NULL, 10);
		if (gid_text && *gid_text)
			gid = (gid_t)strtoul(gid_text, NULL, 10);
		else if ((pw = getpwuid(uid)))
			gid = pw->pw_gid;
		else
			gid = (gid_t)uid;
	}
	if (tool_load_site("epilog", NULL, &site) != AML_EXIT_OK) {
		say(NULL, LOG_ERR, "cannot load aml.conf (set AML_CONF in a "
		    "wrapper when aml.conf is not beside slurm.conf)");
		return failure;
	}
	start = job ? (unsigned)strtoul(job, NULL, 10) : 0;
	started = aml_monotonic_ms();
	deadline = started + seconds * 1000;
	if (aml_node_spools_deliver(&site, uid, gid, start,
				    started + seconds * 500, &st, say, NULL,
				    err, sizeof(err)) < 0) {
		say(NULL, LOG_ERR, err);
		left = 1;
	} else if (st.delivered || st.rejected || st.waiting) {
		syslog(st.waiting || st.rejected ? LOG_WARNING : LOG_INFO,
		       "%zu spools tried of %zu: %zu entries delivered, %zu "
		       "refused (in rejected/), %zu still waiting", st.tried,
		       st.spools, st.delivered, st.rejected, st.waiting);
		left = st.waiting != 0;
	}
	/* Kept run directories: after the spools, whose entries may be
	 * what their runs wait for first. */
	if (aml_node_rundirs_retry(&site, node && *node ? node : NULL, start,
				   deadline, &rs, say, NULL, err,
				   sizeof(err)) < 0) {
		say(NULL, LOG_ERR, err);
		left = 1;
	} else if (rs.kept || rs.noted || rs.waiting) {
		syslog(rs.waiting ? LOG_WARNING : LOG_INFO,
		       "%zu kept run directories tried: %zu delivered and "
		       "removed, %zu losses recorded, %zu still waiting",
		       rs.kept, rs.delivered, rs.noted, rs.waiting);
		left |= rs.waiting != 0;
	}
	aml_site_free(&site);
	return left && failure ? 1 : 0;
}
