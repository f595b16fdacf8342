# The repository is never inside the data directory, however the path is written
# (compared resolved, at SET time and whenever it is opened), and a configured
# repository that is unusable at start is kept -- every archive fails naming it, WAL
# stays in pg_wal -- instead of silently becoming the default one (issue 12).
use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('paths');
my $data = $node->data_dir;
my ($name, $parent) = (basename($data), dirname($data));
symlink($data, $node->basedir . '/alias') or die "symlink: $!";
mkdir "$parent/other" or die;

foreach my $path ("$parent//$name/repo", "$parent/./$name/repo", "$parent/other/../$name/repo",
	$node->basedir . '/alias/repo', '/proc/self/cwd/repo')
{
	my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pgbk.repository = '$path'");
	isnt($ret, 0, "refused: $path");
	like($err, qr/is inside the data directory/, 'as inside the data directory');
}

# Unusable at start: kept, and archiving fails naming it until it is usable (an outage:
# the WAL waits in the spool beside the data directory, never in another repository).
my $locked = $node->basedir . '/locked';
mkdir $locked or die;
chmod 0500, $locked or die;
my $late = PgbkTest::new_node('late', extra_conf => "pgbk.repository = '$locked/repo'\n");
is($late->safe_psql('postgres', 'SHOW pgbk.repository'), "$locked/repo", 'the configured repository is kept at start');
my $walfile = $late->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok($late->poll_query_until('postgres',
	"SELECT last_failed_wal >= '$walfile' AND last_failure ~ '\Q$locked\E' FROM pgbk_archive_status"),
	'archiving fails, naming the configured repository')
  or diag($late->safe_psql('postgres', 'SELECT * FROM pgbk_archive_status'));
ok(!-e PgbkTest::repo($late), 'nothing went to the default repository');
ok($late->poll_query_until('postgres', 'SELECT spool_segments >= 1 FROM pgbk_archive_status'),
	'the WAL waits in the spool');

chmod 0700, $locked or die;
$late->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok($late->poll_query_until('postgres', 'SELECT spool_segments = 0 FROM pgbk_archive_status'),
	'once the directory is usable, the waiting WAL is archived there');
command_ok([ 'pgbk', '--repo', "$locked/repo", 'wal-fetch', '--prefetch', '0', $walfile, $late->basedir . '/fetched' ],
	'into the configured repository');

$late->stop;
$node->stop;
done_testing();
