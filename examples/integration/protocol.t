# @tags: tap
# A TAP producer: warden counts the subtests and fails the file on any `not ok`.
use strict;
use warnings;

print "1..3\n";
print "ok 1 - greeting\n";
print "ok 2 - handshake\n";
print "ok 3 - farewell # SKIP not implemented yet\n";
exit 0;
