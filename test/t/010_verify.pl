# Verification of a real backup and the WAL it needs, by SQL and by the CLI, and the
# tampering each detects and names: a flipped byte, a truncated object, a deleted
# object, an object copied over from another backup, a WAL segment removed from the
# middle of the range. A restore of the damaged backup fails naming what is missing.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('verified');
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], 'pgbench data loaded');
# A backup whose WAL range spans several segments.
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgbk.test_file_delay = 5');
$node->reload;
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now()');
$node->poll_query_until('postgres', "SELECT state = 'running' FROM pgbk_jobs WHERE label = '$label'") or die;
for (1 .. 3)
{
	$node->safe_psql('postgres', 'INSERT INTO pgbench_history SELECT 1, 1, 1, 1, now() FROM generate_series(1, 1000)');
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
$node->poll_query_until('postgres', "SELECT state = 'succeeded' FROM pgbk_jobs WHERE label = '$label'") or die;
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbk.test_file_delay');
$node->reload;
my $other = $node->safe_psql('postgres', "UPDATE pgbench_branches SET bbalance = 7; SELECT pgbk_backup_now(wait => true)");

is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbk_verify()'), '0', 'intact backups: no problem rows');
command_like([ 'pgbk', '--repo', $repo, 'verify', $label ], qr/\Q$label\E: intact/, 'pgbk verify says intact');
my ($wal_start, $wal_stop) = split /\|/, $node->safe_psql('postgres', "SELECT wal_start, wal_stop FROM pgbk_backups WHERE label = '$label'");
ok(hex(substr($wal_stop, 16)) - hex(substr($wal_start, 16)) >= 2, "the WAL range $wal_start..$wal_stop spans segments");

my $data = "$repo/backup/$label/data";
my $file = $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_accounts')");
my $fsm = $file . '_fsm';

# A flipped byte, a truncated object, a deleted object, a copied-over object.
my $flip = "$data/$file";
open my $fh, '+<', $flip or die; binmode $fh; seek $fh, 50, 0; read $fh, my $byte, 1; seek $fh, 50, 0;
print $fh chr(ord($byte) ^ 1); close $fh;
truncate "$data/$fsm", (-s "$data/$fsm") - 20 or die;
unlink "$data/PG_VERSION" or die;
copy("$repo/backup/$other/data/global/pg_filenode.map", "$data/global/pg_filenode.map") or die;
my $branches = $node->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_branches')");
copy("$repo/backup/$other/data/$branches", "$data/$branches") or die;
# A WAL segment from the middle of the range.
my $middle = sprintf('%s%08X', substr($wal_start, 0, 16), hex(substr($wal_start, 16)) + 1);
unlink "$repo/wal/" . substr($middle, 0, 16) . "/$middle" or die;

my %rows = map { my ($o, $p) = split /\|/, $_, 2; ($o => $p) }
  split /\n/, $node->safe_psql('postgres', "SELECT object, problem FROM pgbk_verify('$label')");
my $prefix = "backup/$label/data";
like($rows{"$prefix/$file"}, qr/checksum|decompress/, 'a flipped byte is named');
like($rows{"$prefix/$fsm"}, qr/truncated/, 'a truncated object is named');
is($rows{"$prefix/PG_VERSION"}, 'missing', 'a deleted object is named');
like($rows{"$prefix/$branches"}, qr/differs from the manifest/, 'an object copied from another backup is named');
# Another backup's pg_filenode.map has the same bytes (no relation was mapped anew in
# between): verification checks content, so an identical copy is no problem to report.
ok(!exists $rows{"$prefix/global/pg_filenode.map"}, "another backup's identical pg_filenode.map is not reported");
like($rows{"wal/" . substr($middle, 0, 16) . "/$middle"}, qr/\Q$middle\E needed by the backup is missing/,
	'a WAL segment missing from the middle of the range is named');
is($node->safe_psql('postgres', "SELECT count(*) FROM pgbk_verify('$other')"), '0', 'the other backup is intact');

my ($ret, $out, $err);
IPC::Run::run([ 'pgbk', '--repo', $repo, 'verify', $label, '--json' ], '>', \$out, '2>', \$err);
isnt($?, 0, 'pgbk verify exits non-zero');
like($out, qr/"problem": "missing"/, 'and reports the problems as JSON');

# Restore checks the WAL the backup needs before it reads an object: it fails naming the
# backup and the segment missing from the middle of the range.
command_fails_like([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $node->basedir . '/damaged', '--backup', $label ],
	qr/\Q$label\E cannot be restored: WAL it needs is missing from the archive .*\Q$middle\E/,
	'restoring the damaged backup fails naming it and the missing WAL');
ok(!-e $node->basedir . '/damaged/global/pg_control', 'and leaves no pg_control behind');
$node->stop;

done_testing();
