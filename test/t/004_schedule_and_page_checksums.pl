# A cron schedule makes the worker take backups on its own; a damaged page is
# reported on the job without failing the backup.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $node = PgbkTest::new_node('scheduled');

# Every minute, read in a zone with an offset; an incremental schedule at the same
# times: when both are due, only the full backup runs.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.full_schedule = '* * * * *'");
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.incr_schedule = '* * * * *'");
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.schedule_timezone = 'Asia/Kolkata'");
$node->reload;
$node->poll_query_until('postgres', "SELECT count(*) = 2 FROM pgbk_schedule WHERE schedule = '* * * * *'")
  or die 'schedules not visible';
is($node->safe_psql('postgres',
	"SELECT timezone, next_run > now(), next_run <= now() + interval '61 seconds', extract(second FROM next_run)::int FROM pgbk_schedule WHERE kind = 'full'"),
	'Asia/Kolkata|t|t|0', 'pgbk_schedule shows the next run at the next minute');
is($node->safe_psql('postgres', "SELECT string_agg(kind, ',' ORDER BY kind) FROM pgbk_schedule"), 'full,incr',
	'both schedules are listed');
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pgbk_jobs WHERE trigger = 'schedule' AND state = 'succeeded'")
  or die 'no scheduled backup ran';
my $label = $node->safe_psql('postgres', "SELECT label FROM pgbk_jobs WHERE trigger = 'schedule' ORDER BY id LIMIT 1");
is($node->safe_psql('postgres', "SELECT type || ' ' || status FROM pgbk_backups WHERE label = '$label'"), 'full complete',
	'the scheduled backup is a complete full backup (the incremental due at the same minute did not run)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pgbk_jobs WHERE trigger = 'schedule' AND kind = 'incr'"), '0',
	'no incremental was queued beside it');
# Without the full schedule, the next minute brings an incremental against it.
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbk.full_schedule');
$node->reload;
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pgbk_jobs WHERE trigger = 'schedule' AND kind = 'incr' AND state = 'succeeded'")
  or die 'no scheduled incremental ran';
my $incr = $node->safe_psql('postgres', "SELECT label FROM pgbk_jobs WHERE trigger = 'schedule' AND kind = 'incr' ORDER BY id LIMIT 1");
is($node->safe_psql('postgres', "SELECT type || ' ' || status || ' ' || prior FROM pgbk_backups WHERE label = '$incr'"),
	"incr complete $label", 'the scheduled incremental is against the scheduled full backup');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbk.incr_schedule');
$node->reload;
$node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pgbk_schedule') or die 'schedule not removed';

# Damage one page of a table on disk (the cluster has data checksums).
$node->safe_psql('postgres', 'CREATE TABLE victim AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 2000) g');
$node->safe_psql('postgres', 'CHECKPOINT');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('victim')");
$node->stop;
my $file = $node->data_dir . "/$relpath";
open my $fh, '+<', $file or die "open $file: $!";
binmode $fh;
seek $fh, 8192 + 4000, 0;   # inside block 1, away from the page header
print $fh "CORRUPTED";
close $fh;
$node->start;

my $damaged = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$damaged'"), 'complete',
	'a bad page does not fail the backup');
like($node->safe_psql('postgres', "SELECT state || ': ' || error FROM pgbk_jobs WHERE label = '$damaged'"),
	qr/^succeeded: backup complete, but 1 page\(s\) failed checksum verification: \Q$relpath\E block 1$/,
	'the job names the damaged page');
ok($node->log_contains(qr/WARNING:  pgbk: backup \Q$damaged\E: 1 page\(s\) failed checksum verification/),
	'and the server log has a WARNING');
$node->stop;

done_testing();
