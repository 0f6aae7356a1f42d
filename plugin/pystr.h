/*
 * pystr.h: the text Python's str() gives for a JSON/YAML scalar.
 *
 * Azure ML passes ScriptRunConfig arguments through str(), so a user who
 * wrote  "arguments": ["--lr", 0.8, "--flag", true]  expects the script to
 * see "--lr 0.8 --flag True".  Users moving a config from Azure ML must get
 * byte-identical argument strings.
 */
#ifndef AML_PYSTR_H
#define AML_PYSTR_H

#include <stddef.h>

#include "doc.h"

/*
 * Python's str() of a scalar node into a malloc'd string:
 *   STRING  -> the string itself
 *   BOOL    -> "True" / "False"
 *   NULL    -> "None"
 *   INT     -> decimal without leading zeros or '+', "-0" -> "0"
 *   FLOAT   -> repr(float): shortest round-trip digits, exponent form
 *              outside 1e-4 <= |x| < 1e16 ("1e-05", "1e+16"), otherwise
 *              fixed with at least one decimal ("100000.0"); "inf",
 *              "-inf", "nan".
 * Returns NULL for arrays, objects, or when memory runs out.
 */
char *aml_pystr(const struct aml_node *scalar);

/*
 * repr() of a double into [buf] of [len] bytes, as above.  Returns the
 * number of characters written, or -1 if [len] is too small.
 */
int aml_pystr_float(double value, char *buf, size_t len);

#endif
