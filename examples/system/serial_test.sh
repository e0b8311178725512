#!/bin/sh
# @serial
# Runs alone: handy for tests that need the whole machine or a fixed port. WARDEN_WORKER is the
# slot this test runs in; parallel tests can use it to pick distinct ports.
echo "running alone in worker slot $WARDEN_WORKER"
exit 0
