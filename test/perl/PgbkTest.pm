# Helpers for pgbk's end-to-end tests on real PostgreSQL clusters.
package PgbkTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use IPC::Run;

# A cluster with data checksums, pgbk preloaded and WAL archived by pgbk into the
# default repository (pgbk_repo-pgdata beside the data directory). install_path => DIR
# runs another installed server version (its bin/ and lib/ under DIR).
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		$opts{install_path} ? (install_path => $opts{install_path}) : ());
	$node->init(extra => ['--data-checksums'], allows_streaming => $opts{allows_streaming} // 0);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgbk'
wal_level = replica
archive_mode = on
archive_library = 'pgbk'
max_wal_size = 256MB
} . ($opts{extra_conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pgbk');
	return $node;
}

sub repo
{
	my ($node) = @_;
	return $node->basedir . '/pgbk_repo-pgdata'; # the default: pgbk_repo-<name of the data directory>
}

# Row count and an order-independent digest of every logged user table.
sub table_digests
{
	my ($node) = @_;
	my %digests;
	my @tables = split /\n/, $node->safe_psql('postgres',
		"SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' AND relpersistence = 'p' AND relnamespace = 'public'::regnamespace ORDER BY 1");
	foreach my $t (@tables)
	{
		$digests{$t} = $node->safe_psql('postgres',
			"SELECT count(*) || ':' || coalesce(md5(string_agg(x.r, '|' ORDER BY x.r)), '') FROM (SELECT t::text AS r FROM $t t) x");
	}
	return \%digests;
}

# Switches WAL and waits until the completed segment is archived. A record goes first: a
# switch at the very start of a segment switches nothing and names the segment being
# written, which is never archived.
sub switch_and_wait_archived
{
	my ($node) = @_;
	$node->safe_psql('postgres', "SELECT pg_logical_emit_message(false, 'pgbk-test', 'switch')");
	my $walfile = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	$node->poll_query_until('postgres', "SELECT coalesce(last_archived_wal >= '$walfile', false) FROM pg_stat_archiver")
	  or die "timed out waiting for $walfile to be archived";
	return $walfile;
}

# Restores with the pgbk CLI into a new cluster, starts it and waits until recovery
# has replayed the archive and the server has been promoted.
sub restore_and_start
{
	my ($repo, $name, @restore_args) = @_;
	return restore_and_start_with([ '--repo', $repo ], $name, @restore_args);
}

# The same with any pgbk options naming the repository (e.g. --config FILE).
sub restore_and_start_with
{
	my ($pgbk_args, $name, @restore_args) = @_;
	my $restored = PostgreSQL::Test::Cluster->new($name);
	command_ok([ 'pgbk', @$pgbk_args, 'restore', '--pgdata', $restored->data_dir, @restore_args ],
		"pgbk restore into $name");
	# The restored configuration is the source's: give this cluster its own port.
	$restored->append_conf('postgresql.conf',
		"port = " . $restored->port . "\nunix_socket_directories = '" . $restored->host . "'\n");
	$restored->start;
	$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "restored cluster $name did not finish recovery";
	return $restored;
}

# Restores backup $label into a new cluster and recovers only to the backup's end (the
# point where it is consistent) on its timeline, then promotes: the data as it was when
# the backup ended. The copy archives nothing: its new timeline must not enter the
# source's repository, where a later restore would follow it.
sub restore_to_backup_end
{
	my ($repo, $name, $label) = @_;
	my $restored = PostgreSQL::Test::Cluster->new($name);
	command_ok([ 'pgbk', '--repo', $repo, 'restore', '--pgdata', $restored->data_dir, '--backup', $label ],
		"pgbk restore of $label into $name");
	$restored->append_conf('postgresql.conf',
		"port = " . $restored->port . "\nunix_socket_directories = '" . $restored->host . "'\n"
		  . "recovery_target = 'immediate'\nrecovery_target_action = 'promote'\n"
		  . "recovery_target_timeline = 'current'\narchive_mode = off\n");
	$restored->start;
	$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "restored cluster $name did not finish recovery";
	return $restored;
}

# Waits (up to the TAP timeout) until $cond returns true; dies naming $what otherwise.
sub wait_for
{
	my ($cond, $what) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (!$cond->())
	{
		die "timed out waiting until $what" if time() > $deadline;
		select(undef, undef, undef, 0.1);
	}
	# A wait is not an assertion: a condition never reached dies (the file fails), one
	# reached is noted and counted apart from the oks.
	$PgbkTest::waits_reached++;
	note("reached: $what");
	return 1;
}

our $waits_reached = 0;
END { note("$PgbkTest::waits_reached condition(s) waited for, not counted among the assertions") if $PgbkTest::waits_reached; }

# Waits until `$sql` returns true on a server that may be restarting (after a crash):
# the query goes as an argument, never on psql's standard input, which a psql refused by
# a server in recovery closes before it is written (poll_query_until then dies of the
# broken pipe); a refused connection is simply tried again.
sub wait_through_restart
{
	my ($node, $sql, $what) = @_;
	return wait_for(sub {
		my ($out, $err) = ('', '');
		IPC::Run::run([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ], '>', \$out, '2>', \$err);
		chomp $out;
		return $out eq 't';
	}, $what);
}

# Writes and switches WAL, once a second, until `$sql` returns true: for what only a WAL
# file archived after a reload shows (the archiver rereads its settings on its own time,
# so the first file after a reload may still be archived under the old ones).
sub switch_wal_until
{
	my ($node, $sql, $what) = @_;
	my $switched = 0;
	return wait_for(sub {
		if (time() >= $switched + 1)
		{
			# Committed before the switch, so each switch has WAL to close.
			$node->safe_psql('postgres',
				'CREATE TABLE IF NOT EXISTS pgbk_test_switches (at timestamptz); INSERT INTO pgbk_test_switches VALUES (now())');
			$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
			$switched = time();
		}
		return $node->safe_psql('postgres', "SELECT coalesce(($sql), false)") eq 't';
	}, $what);
}

# S3 settings for a cluster or the CLI, through an endpoint (the proxy or radosgw).
sub s3_conf
{
	my ($url, $endpoint, $extra) = @_;
	return qq{
pgbk.repository = '$url'
pgbk.s3_endpoint = '$endpoint'
pgbk.s3_uri_style = 'path'
pgbk.s3_access_key_id = '$ENV{PGBK_TEST_S3_ACCESS_KEY}'
pgbk.s3_secret_access_key = '$ENV{PGBK_TEST_S3_SECRET_KEY}'
} . ($extra // '');
}

sub create_bucket
{
	my ($dir, $bucket) = @_;
	my $conf = "$dir/create-bucket.conf";
	PostgreSQL::Test::Utils::append_to_file($conf, s3_conf("s3://$bucket", $ENV{PGBK_TEST_S3_ENDPOINT}));
	command_ok([ 'pgbk', '--config', $conf, 'create-bucket' ], "bucket $bucket created");
}

# Starts test/s3/fault-proxy.js in front of radosgw; returns its endpoint and a
# function to talk to its control port (method, path, body).
sub start_fault_proxy
{
	my ($port, $control) = (PostgreSQL::Test::Cluster::get_free_port(), PostgreSQL::Test::Cluster::get_free_port());
	my ($target) = $ENV{PGBK_TEST_S3_ENDPOINT} =~ m{^http://([^/]+)};
	my $handle = IPC::Run::start([ 'node', 'test/s3/fault-proxy.js', $port, $target, $control ]);
	my $http = HTTP::Tiny->new(timeout => 5);
	my $ctl = sub {
		my ($method, $path, $body) = @_;
		my $r = $http->request($method, "http://127.0.0.1:$control$path", { content => $body // '' });
		return $r->{success} ? $r->{content} : undef;
	};
	wait_for(sub { defined $ctl->('GET', '/log') }, 'the fault proxy answers');
	return ("http://127.0.0.1:$port", $ctl, $handle);
}

# The content of an unencrypted, uncompressed pgbk object in a local repository: the bytes
# between its 8-byte header and its 48-byte trailer (docs/repository-format.md). The
# trailer's SHA-256 is binary, so a pattern over the whole file can catch its bytes.
sub stored_object_content
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "could not open $path: $!";
	my $raw = do { local $/; <$fh> };
	close($fh);
	die "$path is not an unencrypted, uncompressed pgbk object"
	  unless length($raw) >= 56 && substr($raw, 0, 4) eq 'PGBK' && substr($raw, 5, 2) eq "\0\0" && substr($raw, -4) eq 'PGBE';
	return substr($raw, 8, length($raw) - 56);
}

sub list_json
{
	my ($repo) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'pgbk', '--repo', $repo, 'list', '--json' ], '>', \$stdout, '2>', \$stderr)
	  or die "pgbk list failed: $stderr";
	return decode_json($stdout);
}

1;
