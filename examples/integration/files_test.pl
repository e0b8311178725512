# @timeout: 10s
# Each test gets a private TMPDIR that warden removes afterwards.
use strict;
use warnings;

my $dir = $ENV{TMPDIR} or die "TMPDIR is not set\n";
my $file = "$dir/note.txt";
open(my $out, '>', $file) or die "cannot write $file: $!\n";
print $out "hello from test $ENV{WARDEN_TEST_ID}\n";
close($out);
open(my $in, '<', $file) or die "cannot read $file: $!\n";
my $line = <$in>;
close($in);
die "read back '$line'\n" unless $line =~ /^hello from test /;
print "wrote and read $file\n";
exit 0;
