#!/bin/sh
# @skip: shows how a skipped test is reported
# Not run unless asked for with --only-skipped.
exit 0
