# A repository records its cluster: another cluster pointed at it can neither archive
# nor back up into it, and says why.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $owner = PgbkTest::new_node('owner');
my $repo = PgbkTest::repo($owner);
PgbkTest::switch_and_wait_archived($owner);
ok(-f "$repo/pgbk.repo", 'repository identity recorded');

my $intruder = PgbkTest::new_node('intruder', extra_conf => "pgbk.repository = '$repo'\n");
my $failed_before = $intruder->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
$intruder->safe_psql('postgres', 'CREATE TABLE t AS SELECT 1 AS x');
$intruder->safe_psql('postgres', 'SELECT pg_switch_wal()');
$intruder->poll_query_until('postgres', "SELECT failed_count > $failed_before FROM pg_stat_archiver")
  or die 'archiving into a foreign repository did not fail';
ok($intruder->log_contains(qr/WARNING:  pgbk: could not archive .*belongs to another cluster/),
	'archiving into another cluster\'s repository is refused with the reason');

my ($ret, $out, $err) = $intruder->psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
isnt($ret, 0, 'backing up into another cluster\'s repository fails');
like($err, qr/belongs to another cluster/, 'and says why');
is($owner->safe_psql('postgres', 'SELECT count(*) FROM pgbk_backups'), '0', 'nothing was written for the intruder');

$intruder->stop;
$owner->stop;
done_testing();
