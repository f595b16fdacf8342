# Expiry removes only what this cluster owns (issue 12): another cluster pointed at a
# repository, even with retention set to keep one backup, removes nothing from it and
# names both clusters; a directory pgbk did not create is never emptied; a prefix under
# backup/ that pgbk did not write is left alone and reported, every removal is reported.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $owner = PgbkTest::new_node('owner', extra_conf => "pgbk.expire_delay = 0\n");
my $repo = PgbkTest::repo($owner);
my $first = $owner->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
my $second = $owner->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
my $owner_id = $owner->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# The attack: another cluster pointed at the owner's repository, retention 1, expire.
my $intruder = PgbkTest::new_node('intruder', extra_conf => "pgbk.repository = '$repo'\n");
my $intruder_id = $intruder->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$intruder->safe_psql('postgres', 'SELECT pgbk_set_retention(1)');
my ($ret, $out, $err) = $intruder->psql('postgres', 'SELECT * FROM pgbk_expire()');
isnt($ret, 0, "another cluster's expiry is refused");
like($err, qr/belongs to another cluster \(system identifier $owner_id.*this cluster is $intruder_id/,
	'naming both clusters');
is($owner->safe_psql('postgres', "SELECT count(*) FROM pgbk_backups WHERE status = 'complete'"), '2',
	"the owner's backups are all there");
command_ok([ 'pgbk', '--repo', $repo, 'verify' ], 'and verify');

# A directory pgbk did not create (no identity record) is never emptied.
my $foreign = $intruder->basedir . '/not_a_repo';
mkdir $foreign or die;
mkdir "$foreign/backup" or die;
mkdir "$foreign/backup/photos" or die;
PostgreSQL::Test::Utils::append_to_file("$foreign/backup/photos/holiday.jpg", 'jpeg');
$intruder->safe_psql('postgres', "ALTER SYSTEM SET pgbk.repository = '$foreign'");
$intruder->reload;
$intruder->poll_query_until('postgres', "SELECT current_setting('pgbk.repository') = '$foreign'")
  or die 'the new repository setting was not loaded';
($ret, $out, $err) = $intruder->psql('postgres', 'SELECT * FROM pgbk_expire()');
isnt($ret, 0, 'expiry of a directory without an identity record is refused');
like($err, qr/has no identity record/, 'and says why');
ok(-f "$foreign/backup/photos/holiday.jpg", 'its files are untouched');

# In the owner's own repository: what pgbk did not write is left alone and reported;
# every removal is a row and a log line.
mkdir "$repo/backup/photos" or die;
PostgreSQL::Test::Utils::append_to_file("$repo/backup/photos/holiday.jpg", 'jpeg');
$owner->safe_psql('postgres', 'SELECT pgbk_set_retention(1)');
my $rows = $owner->safe_psql('postgres', 'SELECT kind, name, reason FROM pgbk_expire() ORDER BY kind, name');
like($rows, qr/^backup\|\Q$first\E\|/m, 'the older backup is expired and reported');
like($rows, qr/^left alone\|backup\/photos\/\|not a pgbk backup/m, 'the foreign prefix is reported as left alone');
ok(-f "$repo/backup/photos/holiday.jpg", 'and is untouched');
ok($owner->log_contains(qr/LOG:  pgbk: expiry: removed backup \Q$first\E/), 'the removal is logged');
is($owner->safe_psql('postgres', "SELECT string_agg(label, ',') FROM pgbk_backups"), $second, 'the newer backup is kept');

$intruder->stop;
$owner->stop;
done_testing();
