# The pgbk command: settings read as the server reads them (Debian's include_dir
# layout), a mistyped repository named instead of shown empty, and exit codes by kind.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgbkTest;

sub pgbk
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbk', @_ ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# pgbk.repository in conf.d/pgbk.conf, read through include_dir as on Debian.
my $node = PostgreSQL::Test::Cluster->new('cli');
$node->init(extra => ['--data-checksums']);
my $repo = $node->basedir . '/elsewhere_repo';
mkdir $node->data_dir . '/conf.d' or die;
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/conf.d/pgbk.conf', "pgbk.repository = '$repo'\n");
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/conf.d/README', "pgbk.repository = '/not/this'\n");
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgbk'
wal_level = replica
archive_mode = on
archive_library = 'pgbk'
include_dir = 'conf.d'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgbk');
is($node->safe_psql('postgres', 'SHOW pgbk.repository'), $repo, 'the server reads conf.d');
my $label = $node->safe_psql('postgres', 'SELECT pgbk_backup_now(wait => true)');

my ($rc, $out, $err) = pgbk('--config', $node->data_dir . '/postgresql.conf', 'list');
is($rc, 0, 'pgbk --config list succeeds') or diag($err);
like($out, qr/^repository: \Q$repo\E$/m, 'and reads the repository from conf.d, as the server does');
like($out, qr/^\Q$label\E /m, 'and lists the backup');

# A repository that does not exist is named, never shown as an empty one.
($rc, $out, $err) = pgbk('--repo', $node->basedir . '/typo_repo', 'list');
is($rc, 7, 'a missing repository exits 7 (not found)');
like($err, qr/repository \S+typo_repo does not exist/, 'and says so');
unlike($out, qr/no backups/, 'instead of "no backups"');
ok(!-e $node->basedir . '/typo_repo', 'and a reader did not create it');
($rc, $out, $err) = pgbk('--repo', $node->basedir . '/typo_repo', 'verify');
is($rc, 7, 'verify too');

# Exit codes by kind, as --help documents them.
($rc, $out, $err) = pgbk('--help');
like($out, qr/^  3 configuration or argument error$/m, '--help documents the exit codes');
($rc, $out, $err) = pgbk('--repo', $repo, 'frobnicate');
is($rc, 2, 'an unknown command is a usage error (2)');
($rc, $out, $err) = pgbk('--repo', 's3://pgbk-cli/x', '--s3-part-size', '1MB', 'list');
is($rc, 3, 'a bad setting value is a configuration error (3)');
like($err, qr/--s3-part-size: pgbk.s3_part_size: 1MB is outside the valid range 5MB \.\. 5120MB/,
	'naming the option, the setting and the range');
($rc, $out, $err) = pgbk('--repo', $repo, 'restore', '--pgdata', $node->basedir . '/r', '--backup', '19990101-000000F');
is($rc, 7, 'an unknown backup is not found (7)');
like($err, qr/no complete backup "19990101-000000F"/, 'and named');

# Every S3 setting can be given to the CLI (options or PGBK_S3_* variables).
($rc, $out, $err) = pgbk('--help');
like($out, qr/--s3-uri-style \/ PGBK_S3_URI_STYLE/, 'the URI style is a CLI option');
{
	local $ENV{PGBK_S3_PART_SIZE} = '2MB';
	($rc, $out, $err) = pgbk('--repo', 's3://pgbk-cli/x', 'list');
	like($err, qr/\$PGBK_S3_PART_SIZE: pgbk.s3_part_size: 2MB is outside/, 'PGBK_S3_* variables are read and checked');
}

# Against a real S3 store, with nothing but options (path style included).
SKIP:
{
	skip 'PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)', 3 unless $ENV{PGBK_TEST_S3_ENDPOINT};
	my @s3 = ('--repo', "s3://pgbk-cli-$$/x", '--s3-endpoint', $ENV{PGBK_TEST_S3_ENDPOINT}, '--s3-uri-style', 'path',
		'--s3-access-key-id', $ENV{PGBK_TEST_S3_ACCESS_KEY});
	local $ENV{PGBK_S3_SECRET_ACCESS_KEY} = $ENV{PGBK_TEST_S3_SECRET_KEY};
	($rc, $out, $err) = pgbk(@s3, 'create-bucket');
	is($rc, 0, 'create-bucket from options and PGBK_S3_SECRET_ACCESS_KEY') or diag($err);
	($rc, $out, $err) = pgbk(@s3, 'list');
	is($rc, 0, 'list of the new bucket') or diag($err);
	like($out, qr/no backups/, 'which is empty');
}

$node->stop;
done_testing();
