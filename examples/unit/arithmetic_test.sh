#!/bin/sh
# @tags: quick
# A test is any program: exit 0 passes, exit 77 skips, anything else fails.
sum=$((19 + 23))
if [ "$sum" -ne 42 ]; then
    echo "19 + 23 gave $sum" >&2
    exit 1
fi
echo "19 + 23 = $sum"
