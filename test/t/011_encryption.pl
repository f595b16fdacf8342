# Encryption at rest end to end: a cluster archiving and backing up with a key, the
# key rotated (new key for new objects, old key kept in the keyring), wrong and missing
# keys refused with their reason, every backup restored with the CLI, and the key never
# shown or logged.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my $keys = PostgreSQL::Test::Utils::tempdir();
command_ok([ 'pgbk', 'generate-key', "$keys/a.key" ], 'pgbk generate-key writes a key file');
command_ok([ 'pgbk', 'generate-key', "$keys/b.key" ], 'and another');
my $key_a = PostgreSQL::Test::Utils::slurp_file("$keys/a.key");
chomp $key_a;
like($key_a, qr/^[0-9a-f]{64}$/, 'a key is 64 hexadecimal digits');

my $node = PgbkTest::new_node('encrypted', extra_conf => "pgbk.encryption_key_file = '$keys/a.key'\n");
my $repo = PgbkTest::repo($node);

# Bad key settings are refused when they are set, naming the setting and the reason.
my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pgbk.encryption_key_file = '$keys/missing.key'");
like($err, qr/pgbk.encryption_key_file.*could not open/s, 'a missing key file is refused at ALTER SYSTEM');
PostgreSQL::Test::Utils::append_to_file("$keys/open.key", $key_a);
chmod 0644, "$keys/open.key";
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pgbk.encryption_key_file = '$keys/open.key'");
like($err, qr/readable by other users.*chmod 600/s, 'a world-readable key file is refused');
PostgreSQL::Test::Utils::append_to_file("$keys/short.key", "abcdef\n");
chmod 0600, "$keys/short.key";
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pgbk.encryption_keyring = '$keys/short.key'");
like($err, qr/pgbk.encryption_keyring.*does not hold a 32-byte key/s, 'a malformed key is refused');
unlike($err, qr/abcdef/, 'without echoing the file content');

# Non-superusers do not see where the key is.
$node->safe_psql('postgres', 'CREATE ROLE op LOGIN; GRANT pgbk_operator TO op');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_settings WHERE name LIKE 'pgbk.encryption%'", extra_params => [ '-U', 'op' ]),
	'0', 'key settings are hidden from non-superusers');

$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench data loaded');
my $first = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$first'"), 'complete',
	'an encrypted backup completes');

# What is stored: every object encrypted (cipher byte set), pgbk.repo records the key id,
# never the key.
my $identity = PostgreSQL::Test::Utils::slurp_file("$repo/pgbk.repo");
my ($id_a) = $identity =~ /"key_id":\s*"([0-9a-f]{16})"/;
ok($id_a, 'pgbk.repo records the key id');
unlike($identity, qr/\Q$key_a\E/, 'pgbk.repo does not hold the key');
my @objects = (glob("$repo/wal/*/*"), "$repo/backup/$first/manifest", "$repo/backup/$first/backup.info",
	"$repo/backup/$first/complete", "$repo/backup/$first/data/PG_VERSION");
my @plain = grep {
	open(my $fh, '<:raw', $_) or die "$_: $!";
	read($fh, my $h, 8);
	close $fh;
	substr($h, 6, 1) ne "\x01"
} @objects;
is_deeply(\@plain, [], 'every stored object is encrypted (' . scalar(@objects) . ' checked)');

# Missing and wrong keys are named before anything is read.
command_fails_like([ 'pgbk', '--repo', $repo, 'list' ], qr/is encrypted \(key $id_a\).*encryption-key-file/,
	'list without a key says the repository is encrypted');
command_fails_like([ 'pgbk', '--repo', $repo, '--encryption-key-file', "$keys/b.key", 'list' ],
	qr/wrong encryption key.*$id_a/, 'list with the wrong key says so and names the right one');
command_like([ 'pgbk', '--repo', $repo, '--encryption-key-file', "$keys/a.key", 'list' ], qr/\Q$first\E\s+full\s+complete/,
	'list with the key');

# Rotation: the old key goes to the keyring, the new one encrypts from now on.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.encryption_keyring = '$keys/a.key'");
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbk.encryption_key_file = '$keys/b.key'");
$node->reload;
$node->command_ok([ 'pgbench', '-t', '200', '-c', '2', 'postgres' ], 'writes after the rotation');
my $second = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pgbk_backups WHERE label = '$second'"), 'complete',
	'a backup after the rotation completes');
$identity = PostgreSQL::Test::Utils::slurp_file("$repo/pgbk.repo");
my ($id_b) = $identity =~ /"key_id":\s*"([0-9a-f]{16})"/;
isnt($id_b, $id_a, 'pgbk.repo records the new key');
like($identity, qr/"previous_key_ids":\s*\[\s*"$id_a"/, 'and remembers the old one');

# Verify: both intact; the first backup is named as still needing the old key.
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM pgbk_verify()');
is($out, '0', 'pgbk_verify finds no problem after the rotation');
like($err, qr/backup \Q$first\E needs old key $id_a/, 'and notes which backup needs the old key');
unlike($err, qr/backup \Q$second\E needs old key/, 'not the backup written with the new key');
command_like([ 'pgbk', '--config', $node->data_dir . '/postgresql.conf', 'verify' ],
	qr/\Q$first\E: needs old key $id_a/, 'pgbk verify names it too');

$node->safe_psql('postgres', "CREATE TABLE after_rotation AS SELECT g, md5(g::text) FROM generate_series(1, 3000) g");
my $expected = PgbkTest::table_digests($node);
PgbkTest::switch_and_wait_archived($node);
$node->stop;
unlike(PostgreSQL::Test::Utils::slurp_file($node->logfile), qr/\Q$key_a\E/, 'the key never reaches the server log');

# Without the old key the first backup cannot be restored, and the error says which key.
command_fails_like(
	[ 'pgbk', '--repo', $repo, '--encryption-key-file', "$keys/b.key", 'restore', '--pgdata', $node->basedir . '/nokey', '--backup', $first ],
	qr/encrypted with key $id_a.*pgbk.encryption_keyring/, 'restoring an old backup without its key names the key');
ok(!-e $node->basedir . '/nokey/global/pg_control', 'and leaves no pg_control behind');

# Each backup restores with the keyring, replays WAL written under both keys and holds
# the same data.
my @cli = ('--repo', $repo, '--encryption-key-file', "$keys/b.key", '--encryption-keyring', "$keys/a.key");
foreach my $label ($first, $second)
{
	my $restored = PgbkTest::restore_and_start_with(\@cli, "restored_$label", '--backup', $label);
	like(PostgreSQL::Test::Utils::slurp_file($restored->data_dir . '/postgresql.auto.conf'),
		qr/pgbk.encryption_key_file = '\Q$keys\E\/b.key'.*restore_command = .*--config/s,
		"the restore of $label carries the key files for wal-fetch");
	is_deeply(PgbkTest::table_digests($restored), $expected, "the restore of $label holds the same data");
	$restored->stop;
}

# A key file that cannot be read at server start is no reason to store plaintext: the
# server starts and serves, but archiving fails naming the file until it is fixed.
my $broken = PgbkTest::new_node('badkey', extra_conf => "pgbk.encryption_key_file = '$keys/not-there.key'\n");
$broken->safe_psql('postgres', 'CREATE TABLE t AS SELECT 1 AS x; SELECT pg_switch_wal()');
PgbkTest::wait_for(
	sub {
		$broken->safe_psql('postgres', 'SELECT coalesce(last_failure, \'\') FROM pgbk_archive_status') =~
		  /could not open pgbk.encryption_key_file file "\Q$keys\E\/not-there.key"/;
	},
	'archiving with an unreadable key file fails naming it');
is(scalar(glob(PgbkTest::repo($broken) . '/wal/*/*')), undef, 'and nothing was stored unencrypted');
$broken->stop;

done_testing();
