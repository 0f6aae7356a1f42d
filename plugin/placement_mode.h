/*
 * placement_mode.h: aml.conf's Placement= (site.h), apart from
 * placement.h so that the site policy's readers need no hwloc header.
 */
#ifndef AML_PLACEMENT_MODE_H
#define AML_PLACEMENT_MODE_H

enum aml_placement_mode {
	AML_PLACEMENT_HWLOC,  /* place, unless Slurm already bound the task */
	AML_PLACEMENT_SLURM,  /* Slurm's binding, whatever it is */
	AML_PLACEMENT_NONE,   /* touch nothing */
};

/* "hwloc", "slurm", "none". */
const char *aml_placement_mode_name(enum aml_placement_mode m);

/* [s] (any case) into [*out]; 0, or -1 when it names no mode. */
int aml_placement_mode_parse(const char *s, enum aml_placement_mode *out);

#endif
