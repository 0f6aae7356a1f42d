/*
 * history_module.c: loading a backend module (see history_module.h).
 */
#include <string.h>

#include "errors.h"
#include "hangwatch.h"
#include "history.h"
#include "history_module.h"
#include "module.h"

/* Whether [m] comes from this build: otherwise the structures handed
 * across may not mean the same on both sides. */
static int same_build(const struct aml_history_module *m)
{
	const struct aml_history_module here = { AML_HISTORY_MODULE_BUILD };

	return m->version && !strcmp(m->version, here.version) &&
	       m->site_size == here.site_size &&
	       m->ops_size == here.ops_size &&
	       m->run_info_size == here.run_info_size &&
	       m->event_size == here.event_size && m->opener &&
	       m->opener->open && m->set_progress;
}

int aml_history_module_load(const char *path, uid_t owner,
			    const struct aml_history_opener **opener,
			    char *errbuf, size_t errlen)
{
	static const struct aml_history_module *loaded;
	const struct aml_history_module *m;
	char why[768];

	if (!loaded) {
		m = aml_module_load(path, owner, AML_MLFLOW_MODULE_SYMBOL,
				    why, sizeof(why));
		if (!m)
			return aml_fail(errbuf, errlen,
					"HistoryBackend=mlflow: not loading "
					"its module: %s", why);
		if (!same_build(m))
			return aml_fail(errbuf, errlen,
					"HistoryBackend=mlflow: %s is not "
					"from this build of slurm-aml %s",
					path, PACKAGE_VERSION);
		m->set_progress(aml_hangwatch_progress);
		loaded = m;
	}
	*opener = loaded->opener;
	return 0;
}

static aml_module_locator *module_locator;

static int open_on_demand(const struct aml_site *site,
			  const struct aml_history_ops **ops, void **self,
			  char *errbuf, size_t errlen)
{
	const struct aml_history_opener *module;
	uid_t owner = 0;
	const char *path = module_locator(&owner);

	if (aml_history_module_load(path, owner, &module, errbuf, errlen) < 0)
		return -1;
	return module->open(site, ops, self, errbuf, errlen);
}

void aml_history_module_register(aml_module_locator *locate)
{
	static const struct aml_history_opener on_demand = {
		.backend = AML_HISTORY_MLFLOW,
		.open = open_on_demand,
	};

	module_locator = locate;
	aml_history_register(&on_demand);
}
