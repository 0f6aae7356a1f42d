/*
 * tree.h: removing a directory and everything below it, relative to a
 * descriptor, in directories a user may have planted things in (a run's
 * working directory, a spool entry, a half-made run in run history).
 */
#ifndef AML_TREE_H
#define AML_TREE_H

/* Directories below the one removed that aml_tree_remove goes into:
 * each level holds a descriptor and a directory stream, so the bound is
 * what keeps a tree a user made deep enough from exhausting either. */
#define AML_TREE_DEPTH_MAX 512

/*
 * Remove [name] in the directory [parent] and, when it is a directory,
 * everything below it.  A symlink is removed itself, never followed,
 * anywhere in the tree: a user who plants one cannot make the caller
 * remove what it leads to.  A directory whose owner took away their own
 * read, write or search bit gets them back first (it is the caller's to
 * empty); nothing is ever chmod'ed through a symlink.  A failure does not
 * stop the rest from being removed; the first one is reported.  Each
 * directory is listed again when it is still not empty after a pass
 * (some network filesystems skip names removed while listing), a few
 * times at most.
 *
 * Returns 0, also when [name] is gone already, or -1 with errno of the
 * first failure: ELOOP for a tree deeper than AML_TREE_DEPTH_MAX.
 */
int aml_tree_remove(int parent, const char *name);

#endif
