# Backup by the worker, writes after it, restore with the CLI into a new data
# directory, WAL replay from the repository, and identical data.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('source');
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-q', 'postgres' ], 'pgbench data loaded');

# A tablespace, so the backup must follow pg_tblspc links.
my $tsdir = $node->basedir . '/ts1';
mkdir $tsdir or die;
$node->safe_psql('postgres', "CREATE TABLESPACE ts1 LOCATION '$tsdir'");
$node->safe_psql('postgres',
	"CREATE TABLE in_tablespace TABLESPACE ts1 AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 5000) g");
# An unlogged table: its data is not backed up, its definition is.
$node->safe_psql('postgres', "CREATE UNLOGGED TABLE scratch AS SELECT g FROM generate_series(1, 1000) g");

my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
like($label, qr/^\d{8}-\d{6}F$/, 'backup_now returns the label');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$label'"),
	'complete', 'backup listed as complete');
ok(-e "$repo/backup/$label/complete", 'completion marker written');
ok(-e "$repo/backup/$label/data/backup_label", 'backup_label stored');
ok(-e "$repo/backup/$label/data/tablespace_map", 'tablespace_map stored');

# More writes after the backup: they must come back through WAL replay.
$node->command_ok([ 'pgbench', '-t', '500', '-c', '2', '-j', '2', 'postgres' ], 'pgbench writes after the backup');
$node->safe_psql('postgres', "CREATE TABLE after_backup AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g");
$node->safe_psql('postgres', "INSERT INTO in_tablespace SELECT g, 'after' FROM generate_series(5001, 6000) g");
$node->safe_psql('postgres', "DELETE FROM pgbench_accounts WHERE aid % 97 = 0");
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);

# The CLI sees the backup from nothing but the repository, and through --config.
my $list = PgbkTest::list_json($repo);
is(scalar(@$list), 1, 'one backup listed');
is($list->[0]{label},  $label,     'list shows the label');
is($list->[0]{status}, 'complete', 'list shows it complete');
my ($stdout, $stderr);
IPC::Run::run([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'list' ], '>', \$stdout, '2>', \$stderr);
like($stdout, qr/\Q$label\E\s+full\s+complete/, 'list via --config reads the same repository');

# Refusals: a non-empty target, an unknown label.
my $busy = $node->basedir . '/busy';
mkdir $busy;
open my $fh, '>', "$busy/file";
close $fh;
command_fails_like([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $busy ],
	qr/is not empty/, 'restore refuses a non-empty directory');
command_fails_like([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $node->basedir . '/x', '--backup', 'nope' ],
	qr/available: \Q$label\E/, 'unknown label lists the available backups');

# The tablespace directory is restored to its original path: move the source's away.
$node->stop;
rename $tsdir, "$tsdir.source" or die;
my $restored = PgbkTest::restore_and_start($repo, 'restored', '--backup', $label);
my $got = PgbkTest::table_digests($restored);
is_deeply($got, $expected, 'every table of the restored cluster is identical to the source');
ok(exists $got->{pgbench_accounts} && exists $got->{after_backup}, 'tables written after the backup are there');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM scratch'), '0', 'unlogged table restored empty');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM in_tablespace'), '6000', 'tablespace data restored');
like(PostgreSQL::Test::Utils::slurp_file($restored->data_dir . '/postgresql.auto.conf'),
	qr/restore_command = '''.*pgbk'' --repo ''\Q$repo\E'' wal-fetch --segment-size 16777216 %f %p'/,
	'restore_command calls pgbk wal-fetch');
# wal-fetch prefetched into pg_wal/pgbk_prefetch during recovery; once recovery is over
# the prefetcher removes its spool and exits.
PgbkTest::wait_for(sub { !-e $restored->data_dir . '/pg_wal/pgbk_prefetch' },
	'the prefetch spool is gone once recovery has ended');
unlike(PostgreSQL::Test::Utils::slurp_file($restored->logfile), qr/pgbk: error/, 'no wal-fetch error during recovery');
is($restored->safe_psql('postgres', 'SHOW pgbk.repository'), $repo, 'the restored copy reads the same repository');
is($restored->safe_psql('postgres', 'SHOW archive_mode'), 'off',
	'and, restored beside its source without --takeover, archives nothing into it');
ok(!-e "$repo/wal/00000002.history", 'so its promotion did not enter the repository');
is($restored->safe_psql('postgres', "SELECT count(*) FROM pgbk_backups WHERE label = '$label'"), '1',
	'and sees the earlier backup');
$restored->stop;

done_testing();
