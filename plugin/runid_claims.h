/*
 * runid_claims.h: which user each run id was accepted for, as the
 * controller remembers it.
 *
 * A run id is public (it is the job's name in squeue), and the controller
 * cannot read run history (no I/O under its locks), so without a memory a
 * user could submit a job under another user's run id and have it named
 * and commented after the victim's run.  The job_submit plugin keeps this
 * table: a run id accepted for one uid is refused for any other, and an
 * id is registered only once its job is accepted.
 *
 * What it cannot do, by construction:
 *   - It lives in slurmctld's memory.  After a restart (or a failover to
 *     a backup controller) it is empty, and the first job to claim a run
 *     id after that is believed.  Run history is the second line: each
 *     user's runs are in a tree of their own, and the launcher starts a
 *     run only once it has recorded Running in its owner's run, so a job
 *     claiming someone else's run id runs nothing and records nothing in
 *     the victim's run; it is only named after it.
 *   - It holds a fixed number of ids, the oldest forgotten first (FIFO),
 *     so memory stays bounded; a run id older than the last [capacity]
 *     accepted runs can be claimed again, with the same limit as above.
 *   - It cannot tell a user's fresh run from a forged one: whoever
 *     submits a run id first owns it for the table's lifetime.  Run ids
 *     are unpredictable (time and 32 random bits), and a private run's id
 *     is seen by others only once its job is queued, by which time it is
 *     claimed.  With RunVisibility=shared, another user can read a run's
 *     id from history between sbatch creating the run and submitting it,
 *     and by submitting it first make that one submission fail (the
 *     owner's next sbatch makes a new id); the victim's run records none
 *     of the forger's job.
 *
 * Lookups are O(1) on average: a chained hash table keyed with SipHash
 * under a secret key (hash.h), so a user choosing run ids cannot make
 * them collide.  No I/O, no statics: the state is the struct the caller
 * owns, and it is not thread-safe (slurmctld calls job_submit under its
 * job write lock).
 */
#ifndef AML_RUNID_CLAIMS_H
#define AML_RUNID_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

struct aml_runid_claim {
	char *run_id;       /* malloc'd; NULL for a free slot */
	uint32_t uid;
	uint32_t next;      /* 1 + index of the next entry of its bucket;
			     * 0 at the end */
	uint64_t hash;
};

struct aml_runid_claims {
	struct aml_runid_claim *entries;  /* a ring: the oldest at [head] */
	uint32_t *buckets;  /* 1 + index of a bucket's first entry; 0: empty */
	size_t capacity;
	size_t count;
	size_t head;
	size_t mask;        /* buckets - 1 (a power of two) */
	unsigned char key[16];
};

/* The claims' capacity slurm-aml's controller uses: runs accepted in a
 * controller's lifetime beyond this many are forgotten, oldest first. */
#define AML_RUNID_CLAIMS_CAPACITY 65536

/*
 * An empty table for [capacity] ids (1 to 2^31), hashed under [key] (16
 * secret random bytes: aml_random).  Returns 0, or -1 when memory runs
 * out or [capacity] is out of range ([c] then needs no free).
 */
int aml_runid_claims_init(struct aml_runid_claims *c, size_t capacity,
			  const unsigned char key[16]);

/*
 * The uid [run_id] was accepted for, into [*uid]: returns 1, or 0 when
 * the table has no claim of it.
 */
int aml_runid_claims_owner(const struct aml_runid_claims *c,
			   const char *run_id, uint32_t *uid);

/*
 * Claim [run_id] for [uid].  Returns 0 when it is now [uid]'s (new, or
 * already [uid]'s: a resubmission), 1 when another uid holds it (nothing
 * changed, that uid in [*owner] when non-NULL), -1 when memory runs out
 * (nothing changed).  A full table forgets its oldest claim first.
 */
int aml_runid_claims_add(struct aml_runid_claims *c, const char *run_id,
			 uint32_t uid, uint32_t *owner);

/* Release everything; [c] may be initialised again. */
void aml_runid_claims_free(struct aml_runid_claims *c);

#endif
