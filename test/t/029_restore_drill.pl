# A restore drill beside the live primary (issue 26). Done as the README's first restore
# example shows, with no flag, the copy is restored as a copy: it promotes, and its new
# timeline never enters the repository, so the primary keeps archiving and backing up and
# restores follow it. A restore into the cluster's own directory (a node recorded in the
# repository) takes the cluster over, as --takeover does anywhere.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('primary');
my $repo = PgbkTest::repo($node);
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
$node->command_ok([ 'pgbench', '-t', '200', '-c', '2', 'postgres' ], 'pgbench writes after the backup');
PgbkTest::switch_and_wait_archived($node);
my $expected = PgbkTest::table_digests($node);

sub restore
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pgbk', '--repo', $repo, 'restore', @args ], '>', \$out, '2>', \$err);
	diag($err) unless $ok;
	return ($ok, $out);
}

sub start_copy
{
	my ($copy) = @_;
	$copy->append_conf('postgresql.conf',
		"port = " . $copy->port . "\nunix_socket_directories = '" . $copy->host . "'\n");
	$copy->start;
	$copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'the copy did not finish recovery';
}

# The drill: a plain restore into a scratch directory, started while the primary runs.
my $drill = PostgreSQL::Test::Cluster->new('drill');
my ($ok, $out) = restore('--pgdata', $drill->data_dir);
ok($ok, 'a plain restore into a scratch directory');
like($out, qr/restored as a copy: the directory is none of the cluster's nodes .*give --takeover/,
	'it says it made a copy, why, and the word that takes over');
start_copy($drill);
is($drill->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '2', 'the drill promoted onto timeline 2');
is_deeply(PgbkTest::table_digests($drill), $expected, 'and holds the primary\'s data');
is($drill->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'it archives nothing');
$drill->safe_psql('postgres', "CREATE TABLE drill_only AS SELECT 1 AS x; SELECT pg_switch_wal()");
ok(!-e "$repo/wal/00000002.history", 'its promotion never reached the repository');

# The primary is not fenced: it archives, backs up, and restores follow it.
$node->command_ok([ 'pgbench', '-t', '200', '-c', '2', 'postgres' ], 'pgbench on the primary during the drill');
my $walfile = PgbkTest::switch_and_wait_archived($node);
is($node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver'), '0',
	"the primary keeps archiving ($walfile), never refused");
my $during = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$during'"), 'complete',
	'and backing up during the drill');
unlike(`pgbk --repo $repo list`, qr/^timelines:/m, 'the repository knows no timeline but the primary\'s');
$drill->stop;
$expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
my $check = PostgreSQL::Test::Cluster->new('check');
($ok, $out) = restore('--pgdata', $check->data_dir);
ok($ok, 'another restore');
start_copy($check);
is_deeply(PgbkTest::table_digests($check), $expected, 'holds exactly the primary\'s newest data');
ok(!exists PgbkTest::table_digests($check)->{drill_only}, 'and nothing of the drill\'s');
$check->stop;

# The cluster's own directory: the primary is gone and its directory is restored in
# place; the restore takes the cluster over, and its promotion enters the repository.
$node->stop;
($ok, $out) = restore('--pgdata', $node->data_dir, '--delta');
ok($ok, 'a delta restore into the primary\'s own directory');
like($out, qr/restored to take the cluster over: the directory is one of the cluster's own nodes/,
	'it says it takes the cluster over, and why');
ok(!-e $node->data_dir . '/pgbk.node', 'the restored directory gets a new node id (the old one is removed)');
$node->start;
$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'the taken-over node did not recover';
PgbkTest::wait_for(sub { -e "$repo/wal/00000002.history" }, 'the taken-over cluster archives its promotion');
ok(-e $node->data_dir . '/pgbk.node', 'and has a new node id');
$node->stop;

done_testing();
