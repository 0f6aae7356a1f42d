/*
 * launch.c: the pure parts of launch.h, the run's working directory and
 * each task's distributed-training environment.
 *
 * Ports.  Everything here must come out the same on every node without
 * the nodes talking to each other, so ports derive from the job id alone:
 *   base = 20000 + job_id % 10000      (20000..29999)
 *   PyTorch MASTER_PORT, MPI's AZ_BATCH_MASTER_NODE port: base
 *   TensorFlow: the task of global rank r listens on base + r's local rank
 *   on its host, so two tasks on one host never share a port, and the
 *   whole range a job uses stays below 65536 (checked).
 * Two jobs on one node collide only when their ids are equal modulo
 * 10000 (or, for TensorFlow, within a host's task count of that).
 *
 * Places.  Slurm's block distribution (srun's default, which aml-launch
 * uses) gives node i the global ranks after those of nodes 0..i-1, and a
 * task's local rank is its index in that block.  TF_CONFIG's host list
 * relies on exactly that, so a place that does not fit it is refused
 * rather than turned into a cluster spec naming the wrong hosts.
 */
#include "launch.h"
#include "text.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define PORT_BASE 20000U
#define PORT_SPREAD 10000U
#define PORT_MAX 65535U

int aml_is_path_component(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

int aml_run_workdir(const char *run_dir, const char *run_id, const char *node,
		    char *buf, size_t len)
{
	size_t dir_len;
	int n;

	if (!run_dir || !run_id || !node || !*run_dir ||
	    !aml_is_path_component(run_id) || !aml_is_path_component(node))
		return -1;
	/* "/tmp/aml-runs/" as the admin may write it: one slash, not two. */
	dir_len = strlen(run_dir);
	while (dir_len > 1 && run_dir[dir_len - 1] == '/')
		dir_len--;
	if (dir_len == 1 && run_dir[0] == '/')
		dir_len = 0;
	/* "%.*s" takes an int. */
	if (dir_len > (size_t)INT_MAX)
		return -1;
	n = snprintf(buf, len, "%.*s/%s/%s", (int)dir_len, run_dir, run_id,
		     node);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

static uint32_t port_base(uint32_t job_id)
{
	return PORT_BASE + job_id % PORT_SPREAD;
}

/* The first global rank on host [h] under block distribution. */
static uint64_t first_rank_of(const struct aml_task_place *p, uint32_t h)
{
	uint64_t first = 0;

	for (uint32_t i = 0; i < h; i++)
		first += p->tasks_per_host[i];
	return first;
}

/*
 * Whether [p] describes one task of a block-distributed step.  Every
 * field is checked against the others, since they come from separate
 * SPANK items and environment variables that could disagree (a step
 * started with another distribution, a node list cut short).
 */
static int place_is_consistent(const struct aml_task_place *p)
{
	uint64_t total = 0, first;
	uint32_t most = 0;

	if (!p->hosts || !p->tasks_per_host || p->n_nodes == 0 ||
	    p->node_rank >= p->n_nodes || p->world_size == 0)
		return 0;
	for (uint32_t i = 0; i < p->n_nodes; i++) {
		if (!p->hosts[i] || !*p->hosts[i] || p->tasks_per_host[i] == 0)
			return 0;
		total += p->tasks_per_host[i];
		if (p->tasks_per_host[i] > most)
			most = p->tasks_per_host[i];
	}
	if (total != p->world_size || p->rank >= p->world_size ||
	    p->local_world != p->tasks_per_host[p->node_rank] ||
	    p->local_rank >= p->local_world)
		return 0;
	first = first_rank_of(p, p->node_rank);
	if (p->rank != first + p->local_rank)
		return 0;
	/* TensorFlow's ports are base + local rank: they must all exist. */
	if ((uint64_t)port_base(p->job_id) + most - 1 > PORT_MAX)
		return 0;
	return 1;
}

/* Append "NAME=value" to [out], keeping it NULL-terminated. */
static int push_var(struct aml_strlist *out, const char *name,
		    const char *value)
{
	char **items = realloc(out->items, (out->count + 2) * sizeof(*items));
	char *pair;

	if (!items)
		return -1;
	out->items = items;
	items[out->count] = NULL;
	pair = aml_env_pair(name, value);
	if (!pair)
		return -1;
	items[out->count++] = pair;
	items[out->count] = NULL;
	return 0;
}

static int push_u32(struct aml_strlist *out, const char *name, uint32_t v)
{
	char text[16];

	snprintf(text, sizeof(text), "%u", (unsigned)v);
	return push_var(out, name, text);
}

static int pytorch_env(const struct aml_task_place *p,
		       struct aml_strlist *out)
{
	if (push_var(out, "MASTER_ADDR", p->hosts[0]) < 0 ||
	    push_u32(out, "MASTER_PORT", port_base(p->job_id)) < 0 ||
	    push_u32(out, "WORLD_SIZE", p->world_size) < 0 ||
	    push_u32(out, "RANK", p->rank) < 0 ||
	    push_u32(out, "LOCAL_RANK", p->local_rank) < 0 ||
	    push_u32(out, "LOCAL_WORLD_SIZE", p->local_world) < 0 ||
	    push_u32(out, "NODE_RANK", p->node_rank) < 0 ||
	    push_u32(out, "GROUP_RANK", p->node_rank) < 0)
		return -1;
	return 0;
}

static int mpi_env(const struct aml_task_place *p, struct aml_strlist *out)
{
	size_t len = strlen(p->hosts[0]) + 8;
	char *master = malloc(len);
	int r;

	if (!master)
		return -1;
	snprintf(master, len, "%s:%u", p->hosts[0],
		 (unsigned)port_base(p->job_id));
	r = push_u32(out, "OMPI_COMM_WORLD_SIZE", p->world_size) < 0 ||
	    push_u32(out, "OMPI_COMM_WORLD_RANK", p->rank) < 0 ||
	    push_u32(out, "OMPI_COMM_WORLD_LOCAL_RANK", p->local_rank) < 0 ||
	    push_u32(out, "OMPI_COMM_WORLD_LOCAL_SIZE", p->local_world) < 0 ||
	    push_u32(out, "OMPI_COMM_WORLD_NODE_RANK", p->node_rank) < 0 ||
	    push_var(out, "AZ_BATCH_MASTER_NODE", master) < 0 ||
	    push_u32(out, "PMI_RANK", p->rank) < 0 ||
	    push_u32(out, "PMI_SIZE", p->world_size) < 0;
	free(master);
	return r ? -1 : 0;
}

/*
 * "host:port" of every global rank in [first, first + count), into the
 * JSON array [arr].  Ranks are walked host by host, so the address of a
 * rank is its host and base + its index there.
 */
static int add_addresses(cJSON *arr, const struct aml_task_place *p,
			 uint32_t first, uint32_t count)
{
	uint64_t host_first = 0;
	uint32_t h = 0;

	for (uint32_t r = first; r < first + count; r++) {
		char addr[300];
		cJSON *item;

		while (r >= host_first + p->tasks_per_host[h])
			host_first += p->tasks_per_host[h++];
		if (snprintf(addr, sizeof(addr), "%s:%u", p->hosts[h],
			     (unsigned)(port_base(p->job_id) +
					(r - host_first))) >= (int)sizeof(addr))
			return -1;
		item = cJSON_CreateString(addr);
		if (!item)
			return -1;
		cJSON_AddItemToArray(arr, item);
	}
	return 0;
}

static int tensorflow_env(const struct aml_runconfig *rc,
			  const struct aml_task_place *p,
			  struct aml_strlist *out)
{
	uint32_t workers = rc->distributed.worker_count;
	uint32_t ps = rc->distributed.parameter_server_count;
	int is_worker = p->rank < workers;
	cJSON *root = NULL, *cluster, *arr, *task;
	char *text = NULL;
	int r = -1;

	/* Every task is a worker or a parameter server, in that order. */
	if ((uint64_t)workers + ps != p->world_size || workers == 0)
		return -1;
	root = cJSON_CreateObject();
	cluster = root ? cJSON_AddObjectToObject(root, "cluster") : NULL;
	arr = cluster ? cJSON_AddArrayToObject(cluster, "worker") : NULL;
	if (!arr || add_addresses(arr, p, 0, workers) < 0)
		goto out;
	/* TensorFlow takes a missing job as an empty one, and Azure ML
	 * leaves "ps" out when there are no parameter servers. */
	if (ps) {
		arr = cJSON_AddArrayToObject(cluster, "ps");
		if (!arr || add_addresses(arr, p, workers, ps) < 0)
			goto out;
	}
	task = cJSON_AddObjectToObject(root, "task");
	if (!task ||
	    !cJSON_AddStringToObject(task, "type", is_worker ? "worker" : "ps") ||
	    !cJSON_AddNumberToObject(task, "index",
				     is_worker ? p->rank : p->rank - workers))
		goto out;
	text = cJSON_PrintUnformatted(root);
	if (text && push_var(out, "TF_CONFIG", text) == 0)
		r = 0;
out:
	cJSON_free(text);
	cJSON_Delete(root);
	return r;
}

int aml_distributed_env(const struct aml_runconfig *rc,
			const struct aml_task_place *place,
			struct aml_strlist *out)
{
	size_t before = out->count;
	int r;

	if (rc->distributed.type == AML_DIST_NONE)
		return 0;
	if (!place_is_consistent(place))
		return -1;
	switch (rc->distributed.type) {
	case AML_DIST_PYTORCH:
		r = pytorch_env(place, out);
		break;
	case AML_DIST_MPI:
		r = mpi_env(place, out);
		break;
	case AML_DIST_TENSORFLOW:
		r = tensorflow_env(rc, place, out);
		break;
	default:
		r = -1;
		break;
	}
	/* All or nothing: a task with half its variables would start and
	 * hang waiting for peers instead of failing. */
	if (r < 0) {
		while (out->count > before)
			free(out->items[--out->count]);
		if (out->items)
			out->items[out->count] = NULL;
	}
	return r;
}
