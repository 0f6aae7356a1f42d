/*
 * dirtrust.c: see dirtrust.h.
 */
#include "dirtrust.h"

enum aml_trust aml_trust_shared_dir(const struct stat *st, uid_t self)
{
	if (S_ISLNK(st->st_mode))
		return AML_UNTRUSTED_LINK;
	if (!S_ISDIR(st->st_mode))
		return AML_UNTRUSTED_KIND;
	if (st->st_uid != 0 && st->st_uid != self)
		return AML_UNTRUSTED_OWNER;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return AML_UNTRUSTED_MODE;
	return AML_TRUSTED;
}

enum aml_trust aml_trust_own_dir(const struct stat *st, uid_t uid,
				 mode_t deny)
{
	if (S_ISLNK(st->st_mode))
		return AML_UNTRUSTED_LINK;
	if (!S_ISDIR(st->st_mode))
		return AML_UNTRUSTED_KIND;
	if (st->st_uid != uid)
		return AML_UNTRUSTED_OWNER;
	if (st->st_mode & deny)
		return AML_UNTRUSTED_MODE;
	return AML_TRUSTED;
}

enum aml_trust aml_trust_user_dir(const struct stat *st, uid_t uid)
{
	return aml_trust_own_dir(st, uid, S_IWGRP | S_IWOTH);
}

enum aml_trust aml_trust_private_dir(const struct stat *st, uid_t uid)
{
	return aml_trust_own_dir(st, uid, S_IRWXG | S_IRWXO);
}

enum aml_trust aml_trust_secret_file(const struct stat *st, uid_t owner)
{
	if (S_ISLNK(st->st_mode))
		return AML_UNTRUSTED_LINK;
	if (!S_ISREG(st->st_mode))
		return AML_UNTRUSTED_KIND;
	if (st->st_uid != 0 && st->st_uid != owner)
		return AML_UNTRUSTED_OWNER;
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return AML_UNTRUSTED_MODE;
	return AML_TRUSTED;
}
