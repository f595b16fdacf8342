# A worker killed with SIGKILL mid-backup leaves nothing listed as complete, the
# leftover is marked failed, and the next backup succeeds.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('killed', extra_conf => "restart_after_crash = on\npgbk.test_file_delay = 20\n");
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '1', '-q', 'postgres' ], 'pgbench data loaded');

my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now()');
$node->poll_query_until('postgres', "SELECT state = 'running' AND bytes_read > 0 FROM pgbk_jobs WHERE label = '$label'")
  or die 'backup did not start';
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"),
	'running', 'backup in progress is listed as running');

my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbk backup worker'");
ok($pid > 0, 'worker is visible in pg_stat_activity');
kill 'KILL', $pid;

# The postmaster reinitialises after the crash; the new worker marks the leftover.
# It writes the failure record first, then removes the data: wait for both.
PgbkTest::wait_for(sub { -e "$repo/backup/$label/failed" && !-d "$repo/backup/$label/data" },
	'the restarted worker records the interrupted backup and removes its data');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"), 'failed',
	'the interrupted backup is listed as failed');
like($node->safe_psql('postgres', "SELECT error FROM pgbk_backups WHERE label = '$label'"),
	qr/interrupted/, 'failure says the backup was interrupted');
ok(!-e "$repo/backup/$label/complete", 'no completion marker');
ok(!-e "$repo/backup/$label/manifest", 'no manifest');
is($node->safe_psql('postgres', "SELECT count(*) FROM pgbk_backups WHERE status = 'complete'"), '0',
	'nothing listed as complete');
my $list = PgbkTest::list_json($repo);
is($list->[0]{status}, 'failed', 'the CLI sees it failed too');

# PostgreSQL restarts the archiver after a crash only 10 s after its previous start
# (PGARCH_RESTART_INTERVAL), on a postmaster loop iteration; these polling
# connections provide the iterations, so the next backup does not wait for it.
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'archiver'")
  or die 'archiver did not restart';

# The next backup succeeds.
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgbk.test_file_delay = 0');
$node->reload;
my $next = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$next'"), 'complete',
	'next backup completes');

# A failing backup reports its reason and does not stop the worker: here it is refused
# up front because archiving is switched off (it would wait for WAL that never comes).
$node->safe_psql('postgres', "ALTER SYSTEM SET archive_mode = off");
$node->restart;
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
isnt($ret, 0, 'backup without archiving fails');
like($err, qr/WAL archiving to the repository is not enabled/, 'and says why');
is($node->safe_psql('postgres', "SELECT state FROM pgbk_jobs ORDER BY id DESC LIMIT 1"), 'failed', 'job failed');
$node->stop;

done_testing();
