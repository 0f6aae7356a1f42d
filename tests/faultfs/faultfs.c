/*
 * faultfs: a passthrough FUSE filesystem whose faults a test switches on
 * and off through a control file (control.h), so run history can be shown
 * a stale, failing, over-quota or hung shared filesystem, which a local
 * machine cannot produce for real.
 *
 *   faultfs BACKING_DIR MOUNTPOINT CONTROL_FILE [PIDFILE]
 *
 * It serves one request at a time, as a hung NFS server stops everyone at
 * once, and returns only once the mount is live, leaving a daemon whose
 * pid is in PIDFILE; SIGTERM unmounts it.  stderr stays open for its log:
 * redirect it to a file.
 */
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "caller.h"
#include "control.h"

/* How often a hung operation looks at the control file again. */
#define HANG_POLL_NS (20 * 1000 * 1000)

/* Every operation is relative to this descriptor of BACKING_DIR. */
static int backing = -1;
static struct control ctl;

/*
 * Whether an operation reads or looks up (it passes under "errno NAME
 * writes", as on a filesystem whose quota is used up) or changes or
 * allocates something.
 */
enum op_kind { OP_READ, OP_WRITE };

/*
 * Wait out a hang and report an errno fault for an operation of [kind].
 * Returns 0 to go on, or -errno to fail with.
 */
static int fault_now(enum op_kind kind)
{
	const struct fuse_context *ctx = fuse_get_context();
	const struct timespec pause = { 0, HANG_POLL_NS };
	const struct fault *f;

	for (;;) {
		f = control_current(&ctl);
		if (f->mode == FAULT_PASS)
			return 0;
		if (f->mode == FAULT_ERRNO)
			return f->writes_only && kind == OP_READ ? 0 : -f->err;
		/* Hung: only unmounting or the caller's death ends it. */
		if (fuse_session_exited(fuse_get_session(ctx->fuse)))
			return -ENOTCONN;
		if (caller_is_dying(ctx->pid))
			return -EINTR;
		nanosleep(&pause, NULL);
	}
}

/* The fault, then the caller's identity: 0 to go on, or -errno. */
static int op_begin(enum op_kind kind)
{
	int err = fault_now(kind);

	return err ? err : caller_become();
}

/* Back to root; [ret] of -1 means "failed with errno".  Returns -errno or [ret]. */
static int op_end(long ret)
{
	int err = ret == -1 ? -errno : 0;

	caller_restore();
	return err ? err : (int)ret;
}

/* [path] relative to the backing directory ("/" is "."). */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static int fd_of(const struct fuse_file_info *fi)
{
	return (int)fi->fh;
}

static DIR *dir_of(const struct fuse_file_info *fi)
{
	return (DIR *)(uintptr_t)fi->fh;
}

static enum op_kind kind_of_fd(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl != -1 && (fl & O_ACCMODE) == O_RDONLY ? OP_READ : OP_WRITE;
}

static enum op_kind kind_of_open(int flags)
{
	return (flags & O_ACCMODE) == O_RDONLY &&
			       !(flags & (O_TRUNC | O_APPEND | O_CREAT))
		       ? OP_READ
		       : OP_WRITE;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	/*
	 * Ask every time: a cached attribute or name would hide a fault
	 * from a stat or a lookup that a real server would have failed.
	 */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	/*
	 * Unlink for real: the library's default hides a file still open
	 * as .fuse_hidden*, which would keep a directory from being
	 * removed where a real filesystem lets it.  Open files are served
	 * by descriptor, so they need no path.
	 */
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 1;
	return NULL;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	int r = op_begin(OP_READ);

	if (r)
		return r;
	return op_end(fi ? fstat(fd_of(fi), st)
			 : fstatat(backing, rel(path), st,
				   AT_SYMLINK_NOFOLLOW));
}

static int fs_access(const char *path, int mask)
{
	int r = op_begin(OP_READ);

	if (r)
		return r;
	/* AT_EACCESS: check as the fsuid just taken, not the real uid. */
	return op_end(faccessat(backing, rel(path), mask,
				AT_EACCESS | AT_SYMLINK_NOFOLLOW));
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int r = op_begin(OP_READ);

	if (r)
		return r;
	n = readlinkat(backing, rel(path), buf, size - 1);
	if (n >= 0)
		buf[n] = '\0';
	return op_end(n < 0 ? -1 : 0);
}

static int fs_mkdir(const char *path, mode_t mode)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(mkdirat(backing, rel(path), mode));
}

static int fs_unlink(const char *path)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(unlinkat(backing, rel(path), 0));
}

static int fs_rmdir(const char *path)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(unlinkat(backing, rel(path), AT_REMOVEDIR));
}

static int fs_symlink(const char *target, const char *path)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(symlinkat(target, backing, rel(path)));
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	int r;

	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	r = op_begin(OP_WRITE);
	if (r)
		return r;
	return op_end(renameat2(backing, rel(from), backing, rel(to), flags));
}

static int fs_link(const char *from, const char *to)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(linkat(backing, rel(from), backing, rel(to), 0));
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(fi ? fchmod(fd_of(fi), mode)
			 : fchmodat(backing, rel(path), mode,
				    AT_SYMLINK_NOFOLLOW));
}

static int fs_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(fi ? fchown(fd_of(fi), uid, gid)
			 : fchownat(backing, rel(path), uid, gid,
				    AT_SYMLINK_NOFOLLOW));
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, ret, r = op_begin(OP_WRITE);

	if (r)
		return r;
	if (fi)
		return op_end(ftruncate(fd_of(fi), size));
	/* truncate(2) has no *at form; opening for writing checks the same. */
	fd = openat(backing, rel(path),
		    O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return op_end(-1);
	ret = ftruncate(fd, size);
	if (ret < 0) {
		r = errno;
		close(fd);
		errno = r;
		return op_end(-1);
	}
	return op_end(close(fd));
}

static int fs_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	int r = op_begin(OP_WRITE);

	if (r)
		return r;
	return op_end(fi ? futimens(fd_of(fi), tv)
			 : utimensat(backing, rel(path), tv,
				     AT_SYMLINK_NOFOLLOW));
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd, r = op_begin(OP_WRITE);

	if (r)
		return r;
	fd = openat(backing, rel(path),
		    fi->flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0)
		fi->fh = (uint64_t)fd;
	return op_end(fd < 0 ? -1 : 0);
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	int fd, r = op_begin(kind_of_open(fi->flags));

	if (r)
		return r;
	fd = openat(backing, rel(path),
		    (fi->flags & ~O_CREAT) | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		fi->fh = (uint64_t)fd;
	return op_end(fd < 0 ? -1 : 0);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	int r = op_begin(OP_READ);

	(void)path;
	if (r)
		return r;
	return op_end(pread(fd_of(fi), buf, size, off));
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int r = op_begin(OP_WRITE);

	(void)path;
	if (r)
		return r;
	return op_end(pwrite(fd_of(fi), buf, size, off));
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	int r = op_begin(OP_READ);

	(void)path;
	if (r)
		return r;
	return op_end(fstatvfs(backing, st));
}

/*
 * close(2) of a file written to: where NFS reports a write it could not
 * make (EDQUOT, EIO), so it fails like a write.
 */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	int r = op_begin(kind_of_fd(fd_of(fi)));

	(void)path;
	if (r)
		return r;
	return op_end(close(dup(fd_of(fi))));
}

/*
 * The kernel's own bookkeeping once the last descriptor is gone: its
 * result is ignored, so no fault applies, and the backing descriptor is
 * always closed.
 */
static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close(fd_of(fi));
	return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int fd = fd_of(fi), r = op_begin(kind_of_fd(fd));

	(void)path;
	if (r)
		return r;
	return op_end(datasync ? fdatasync(fd) : fsync(fd));
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	DIR *d;
	int fd, r = op_begin(OP_READ);

	if (r)
		return r;
	fd = openat(backing, rel(path),
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return op_end(-1);
	d = fdopendir(fd);
	if (!d) {
		r = errno;
		close(fd);
		errno = r;
		return op_end(-1);
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return op_end(0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	DIR *d = dir_of(fi);
	struct dirent *e;
	struct stat st;
	int r = op_begin(OP_READ);

	(void)path;
	(void)off;
	(void)flags;
	if (r)
		return r;
	/* Offsets of 0 to the filler: the library takes all in one call. */
	rewinddir(d);
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e)
			return op_end(errno ? -1 : 0);
		memset(&st, 0, sizeof(st));
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		if (fill(buf, e->d_name, &st, 0, 0))
			return op_end(0);
	}
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir(dir_of(fi));
	return 0;
}

static int fs_fsyncdir(const char *path, int datasync,
		       struct fuse_file_info *fi)
{
	int fd = dirfd(dir_of(fi)), r = op_begin(OP_READ);

	(void)path;
	if (r)
		return r;
	return op_end(datasync ? fdatasync(fd) : fsync(fd));
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	int r = op_begin(OP_WRITE);

	(void)path;
	if (r)
		return r;
	return op_end(fallocate(fd_of(fi), mode, off, len));
}

static off_t fs_lseek(const char *path, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	off_t to;
	int r = op_begin(OP_READ);

	(void)path;
	if (r)
		return r;
	to = lseek(fd_of(fi), off, whence);
	r = to < 0 ? -errno : 0;
	caller_restore();
	return r ? r : to;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.access = fs_access,
	.readlink = fs_readlink,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.truncate = fs_truncate,
	.utimens = fs_utimens,
	.create = fs_create,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.statfs = fs_statfs,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.fallocate = fs_fallocate,
	.lseek = fs_lseek,
};

static void usage(void)
{
	fprintf(stderr,
		"usage: faultfs BACKING_DIR MOUNTPOINT CONTROL_FILE [PIDFILE]\n"
		"  Mounts MOUNTPOINT as BACKING_DIR, failing or hanging as the\n"
		"  first line of CONTROL_FILE says: ok | errno NAME [writes] | hang\n"
		"  (NAME: EIO ESTALE EACCES EROFS ENOSPC EDQUOT ENOTCONN or a number).\n"
		"  Returns once the mount is live; the daemon's pid goes to PIDFILE.\n");
}

/* [path] made absolute against the current directory (faultfs runs from /). */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/*
 * Whether [path] lies under [mountpoint]: faultfs would then stat its
 * own mount on every request and wait for itself forever.
 */
static int under(const char *path, const char *mountpoint)
{
	char *dir = strdup(path), *slash, real_mp[PATH_MAX], real_dir[PATH_MAX];
	size_t len;
	int inside = 0;

	if (!dir)
		return 0;
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (realpath(mountpoint, real_mp) && realpath(dir, real_dir)) {
		len = strlen(real_mp);
		inside = strncmp(real_dir, real_mp, len) == 0 &&
			 (real_dir[len] == '\0' || real_dir[len] == '/' ||
			  len == 1);
	}
	free(dir);
	return inside;
}

/* Write [pid] to [path] through a temporary file, so no reader sees half. */
static int write_pidfile(const char *path, pid_t pid)
{
	char *tmp;
	FILE *f;
	int ok;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -1;
	f = fopen(tmp, "we");
	if (!f) {
		free(tmp);
		return -1;
	}
	fprintf(f, "%d\n", (int)pid);
	ok = fclose(f) == 0 && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

/*
 * Fork; the parent exits 0 once the child says it serves (the mount is
 * already live: fuse_mount came first), 1 if the child died first.
 * Returns in the child, or -1 with a message if fork fails.
 */
static int daemonize(const char *pidfile, struct fuse *fuse)
{
	int pipefd[2], nullfd;
	char ready = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("faultfs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("faultfs: fork");
		return -1;
	}
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &ready, 1) != 1 || ready != 1)
			_exit(1);
		/* Not exit(): the child owns the mount and the session. */
		_exit(0);
	}
	close(pipefd[0]);
	setsid();
	if (chdir("/") < 0)
		perror("faultfs: chdir /");
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd >= 0) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	if (pidfile && write_pidfile(pidfile, getpid()) < 0) {
		fprintf(stderr, "faultfs: %s: %s\n", pidfile, strerror(errno));
		fuse_unmount(fuse);
		_exit(1);
	}
	ready = 1;
	if (write(pipefd[1], &ready, 1) != 1)
		perror("faultfs: telling the parent");
	close(pipefd[1]);
	return 0;
}

int main(int argc, char **argv)
{
	char *fuse_argv[] = { argv[0], "-o",
			      "allow_other,default_permissions,fsname=faultfs",
			      NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	char err[512], *control_path, *pidfile = NULL, *mountpoint;
	struct fuse *fuse;
	int status;

	if (argc < 4 || argc > 5) {
		usage();
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "faultfs: must run as root: it does each "
			"operation as the user who asked\n");
		return 1;
	}
	/* Absolute: the daemon unmounts it from /. */
	mountpoint = realpath(argv[2], NULL);
	if (!mountpoint) {
		fprintf(stderr, "faultfs: MOUNTPOINT %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	backing = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (backing < 0) {
		fprintf(stderr, "faultfs: BACKING_DIR %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	control_path = absolute(argv[3]);
	if (argc == 5)
		pidfile = absolute(argv[4]);
	if (!control_path || (argc == 5 && !pidfile)) {
		perror("faultfs");
		return 1;
	}
	if (under(control_path, mountpoint)) {
		fprintf(stderr, "faultfs: CONTROL_FILE %s is under MOUNTPOINT "
			"%s: it must stay reachable while the mount hangs\n",
			control_path, mountpoint);
		return 2;
	}
	if (control_init(&ctl, control_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "faultfs: CONTROL_FILE %s\n", err);
		return 2;
	}
	if (caller_init() < 0) {
		perror("faultfs: getgroups");
		return 1;
	}
	/* Modes arrive with the caller's umask applied already. */
	umask(0);

	fuse = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!fuse)
		return 1;
	if (fuse_mount(fuse, mountpoint) != 0) {
		fuse_destroy(fuse);
		return 1;
	}
	if (daemonize(pidfile, fuse) < 0) {
		fuse_unmount(fuse);
		fuse_destroy(fuse);
		return 1;
	}
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		fuse_unmount(fuse);
		fuse_destroy(fuse);
		return 1;
	}
	/* One request at a time: one stuck request stops all, as on NFS. */
	status = fuse_loop(fuse);
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	fuse_unmount(fuse);
	fuse_destroy(fuse);
	if (pidfile)
		unlink(pidfile);
	fuse_opt_free_args(&args);
	free(pidfile);
	free(control_path);
	free(mountpoint);
	return status < 0 ? 1 : 0;
}
