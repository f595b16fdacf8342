# A real high-availability cluster for the TAP tests: Debian's etcd and Patroni on
# loopback, every process started here and stopped by PID. Every node gets the same
# pgbk settings (Patroni's cluster-wide parameters in the DCS) and the same repository.
package PgbkPatroni;

use strict;
use warnings;

use File::Basename qw(basename);
use File::Path qw(make_path);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbkTest;

my @started;    # [pid, what], stopped at the end whatever happens
my @data_dirs;  # postgres left behind by a killed Patroni is stopped by its postmaster.pid

sub spawn
{
	my ($log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or POSIX::_exit(127);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	push @started, [ $pid, "@cmd" ];
	return $pid;
}

sub stop_pid
{
	my ($pid, $signal) = @_;
	return unless $pid && kill(0, $pid);
	kill($signal // 'TERM', $pid);
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (waitpid($pid, POSIX::WNOHANG()) == 0 && time() < $deadline)
	{
		select(undef, undef, undef, 0.1);
	}
	if (kill(0, $pid))
	{
		kill('KILL', $pid);
		waitpid($pid, 0);
	}
}

END
{
	my $status = $?;
	# Patroni first (it stops its PostgreSQL), then any PostgreSQL left running, etcd last.
	foreach my $p (reverse @started) { stop_pid($p->[0], 'TERM') if $p->[1] =~ /patroni/; }
	foreach my $dir (@data_dirs)
	{
		next unless -e "$dir/postmaster.pid";
		system('pg_ctl', '-D', $dir, '-m', 'immediate', 'stop');
	}
	foreach my $p (reverse @started) { stop_pid($p->[0], 'TERM'); }
	$? = $status;
}

sub new
{
	my ($class, %opts) = @_;
	my $self = bless {
		base => PostgreSQL::Test::Utils::tempdir('patroni'),
		scope => 'pgbk-ha',
		nodes => {},
		parameters => $opts{parameters} // {},
		replica_methods => $opts{replica_methods} // [ 'pgbk', 'basebackup' ],
	}, $class;
	$self->{repo} = "$self->{base}/repo";
	($self->{pgbk}) = grep { -x $_ } map { "$_/pgbk" } split /:/, $ENV{PATH};
	die "pgbk is not on the PATH" unless $self->{pgbk};
	# The server version under test: PGXS puts its bindir first on the PATH.
	chomp($self->{bin_dir} = `pg_config --bindir`);
	($self->{major}) = `pg_config --version` =~ /PostgreSQL (\d+)/;
	die "no pg_config on the PATH" unless $self->{bin_dir} && $self->{major};
	$self->start_etcd;
	return $self;
}

sub repo { return $_[0]->{repo}; }

# The major version of the servers Patroni runs.
sub major { return $_[0]->{major}; }

# Logs are named after the test, like PostgreSQL::Test::Cluster's (CI prints a failed
# test's logs by that name).
sub log_file_for
{
	my ($what) = @_;
	return "$PostgreSQL::Test::Utils::log_path/" . basename($0, '.pl') . "_$what.log";
}

sub start_etcd
{
	my ($self) = @_;
	my $client = PostgreSQL::Test::Cluster::get_free_port();
	my $peer = PostgreSQL::Test::Cluster::get_free_port();
	$self->{etcd} = "127.0.0.1:$client";
	my $log = log_file_for('etcd');
	spawn($log, 'etcd', '--name', 'etcd1', '--data-dir', "$self->{base}/etcd",
		'--listen-client-urls', "http://127.0.0.1:$client", '--advertise-client-urls', "http://127.0.0.1:$client",
		'--listen-peer-urls', "http://127.0.0.1:$peer", '--initial-advertise-peer-urls', "http://127.0.0.1:$peer",
		'--initial-cluster', "etcd1=http://127.0.0.1:$peer");
	PgbkTest::wait_for(sub {
		my $r = HTTP::Tiny->new(timeout => 2)->get("http://$self->{etcd}/health");
		return $r->{success} && $r->{content} =~ /"health":\s*"true"/;
	}, 'etcd answers on loopback');
}

# The Patroni configuration of one node. What pgbk needs is cluster-wide (bootstrap.dcs:
# the same for every node); only addresses and directories differ per node.
sub node_config
{
	my ($self, $node) = @_;
	my $repo = $self->{repo};
	my $pgbk = $self->{pgbk};
	my %parameters = (
		wal_level => 'replica',
		hot_standby => 'on',
		wal_log_hints => 'on',
		max_wal_senders => 10,
		max_replication_slots => 10,
		shared_preload_libraries => 'pgbk',
		archive_library => 'pgbk',
		# Only Patroni reads it (archive_library wins in PostgreSQL 15): its pre-rewind
		# archiving of the old primary's .ready files. PostgreSQL 16 and later refuse to
		# archive with both set; there the standbys archive what they receive instead
		# (docs/high-availability.md).
		$self->{major} < 16
		? (archive_mode => 'on', archive_command => "$pgbk --repo $repo wal-push %p")
		: (archive_mode => 'always'),
		'pgbk.repository' => $repo,
		max_wal_size => '256MB',
		%{ $self->{parameters} });
	my $methods = $self->{replica_methods};
	my $config = {
		scope => $self->{scope},
		name => $node->{name},
		log => { level => 'INFO' },
		restapi => { listen => "127.0.0.1:$node->{rest}", connect_address => "127.0.0.1:$node->{rest}" },
		etcd3 => { hosts => [ $self->{etcd} ] },
		bootstrap => {
			dcs => {
				ttl => 10,
				loop_wait => 1,
				retry_timeout => 4,
				maximum_lag_on_failover => 1024 * 1024 * 1024,
				postgresql => { use_pg_rewind => JSON::PP::true, parameters => \%parameters },
			},
			initdb => [ 'data-checksums', { encoding => 'UTF8' } ],
		},
		postgresql => {
			listen => "127.0.0.1:$node->{port}",
			connect_address => "127.0.0.1:$node->{port}",
			data_dir => $node->{data_dir},
			bin_dir => $self->{bin_dir},
			pgpass => "$self->{base}/$node->{name}.pgpass",
			authentication => {
				superuser => { username => 'postgres', password => 'pgbk' },
				replication => { username => 'replicator', password => 'pgbk' },
			},
			parameters => { unix_socket_directories => $self->{base} },
			pg_hba => [ 'local all all trust', 'host all all 127.0.0.1/32 trust',
				'host replication all 127.0.0.1/32 trust' ],
			recovery_conf => { restore_command => "$pgbk --repo $repo wal-fetch %f %p" },
			create_replica_methods => $methods,
			pgbk => { command => "$pgbk --repo $repo restore --standby" },
			basebackup => [ { checkpoint => 'fast' } ],
		},
	};
	# YAML is a superset of JSON: Patroni reads this as its YAML configuration.
	return JSON::PP->new->canonical->pretty->encode($config);
}

sub add_node
{
	my ($self, $name) = @_;
	my $node = {
		name => $name,
		port => PostgreSQL::Test::Cluster::get_free_port(),
		rest => PostgreSQL::Test::Cluster::get_free_port(),
		data_dir => "$self->{base}/$name",
		config => "$self->{base}/$name.yml",
		log => log_file_for("patroni_$name"),
	};
	push @data_dirs, $node->{data_dir};
	$self->{nodes}{$name} = $node;
	PostgreSQL::Test::Utils::append_to_file($node->{config}, $self->node_config($node));
	$self->start_patroni($name);
	return $node;
}

sub start_patroni
{
	my ($self, $name) = @_;
	my $node = $self->{nodes}{$name};
	$node->{pid} = spawn($node->{log}, 'patroni', $node->{config});
}

# Patroni dies (kill -9); its PostgreSQL keeps running and accepting writes.
sub kill_patroni
{
	my ($self, $name) = @_;
	stop_pid($self->{nodes}{$name}{pid}, 'KILL');
}

sub stop_postgres
{
	my ($self, $name) = @_;
	system('pg_ctl', '-D', $self->{nodes}{$name}{data_dir}, '-m', 'fast', 'stop') == 0
	  or die "could not stop $name";
}

sub status
{
	my ($self, $name) = @_;
	my $r = HTTP::Tiny->new(timeout => 2)->get("http://127.0.0.1:$self->{nodes}{$name}{rest}/patroni");
	return {} unless $r->{success} || $r->{status} == 503;
	return eval { decode_json($r->{content}) } // {};
}

sub is_primary
{
	my ($self, $name) = @_;
	my $s = $self->status($name);
	return ($s->{state} // '') eq 'running' && ($s->{role} // '') =~ /^(master|primary)$/;
}

sub is_streaming_replica
{
	my ($self, $name) = @_;
	my $s = $self->status($name);
	return 0 unless ($s->{state} // '') eq 'running' && ($s->{role} // '') eq 'replica';
	my ($rc, $out) = $self->psql($name, "SELECT status FROM pg_stat_wal_receiver");
	return $rc == 0 && $out eq 'streaming';
}

sub wait_primary
{
	my ($self, $name, $what) = @_;
	PgbkTest::wait_for(sub { $self->is_primary($name) }, $what // "$name is the primary");
}

sub wait_replica
{
	my ($self, $name, $what) = @_;
	PgbkTest::wait_for(sub { $self->is_streaming_replica($name) }, $what // "$name streams as a replica");
}

sub psql
{
	my ($self, $name, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p',
		$self->{nodes}{$name}{port}, '-U', 'postgres', '-d', 'postgres', '-c', $sql ], '>', \$out, '2>', \$err);
	chomp $out;
	return ($ok ? 0 : 1, $out, $err);
}

sub safe_psql
{
	my ($self, $name, $sql) = @_;
	my ($rc, $out, $err) = $self->psql($name, $sql);
	die "psql on $name failed: $err\n(query: $sql)" if $rc != 0;
	return $out;
}

sub port { return $_[0]->{nodes}{ $_[1] }{port}; }
sub data_dir { return $_[0]->{nodes}{ $_[1] }{data_dir}; }
sub log_file { return $_[0]->{nodes}{ $_[1] }{log}; }

# Switchover through Patroni's REST API.
sub switchover
{
	my ($self, $from, $to) = @_;
	my $r = HTTP::Tiny->new(timeout => 30)->post("http://127.0.0.1:$self->{nodes}{$from}{rest}/switchover",
		{ content => encode_json({ leader => $from, candidate => $to }),
		  headers => { 'Content-Type' => 'application/json' } });
	die "switchover refused: $r->{status} $r->{content}" unless $r->{success};
}

# Changes the cluster-wide configuration (Patroni's PATCH /config: every node reloads).
sub patch_config
{
	my ($self, $name, $config) = @_;
	my $r = HTTP::Tiny->new(timeout => 30)->request('PATCH', "http://127.0.0.1:$self->{nodes}{$name}{rest}/config",
		{ content => encode_json($config), headers => { 'Content-Type' => 'application/json' } });
	die "PATCH /config refused: $r->{status} $r->{content}" unless $r->{success};
}

# pgbench against a node in the background, until finish_pgbench (its errors when the
# node goes away are expected).
sub start_pgbench
{
	my ($self, $name) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start([ 'pgbench', '-n', '-c', '2', '-T', '600', '-h', '127.0.0.1', '-p', $self->port($name), '-U',
		'postgres', 'postgres' ], '>', \$out, '2>', \$err);
}

sub finish_pgbench
{
	my ($self, $h) = @_;
	$h->signal('TERM');
	eval { $h->finish };
}

# Switches WAL on the primary `name` and waits until pgbk archived it.
sub switch_and_wait_archived
{
	my ($self, $name) = @_;
	my $segment = $self->safe_psql($name, "SELECT pg_walfile_name(pg_switch_wal()) FROM (SELECT txid_current()) x");
	PgbkTest::wait_for(sub {
		$self->safe_psql($name, "SELECT coalesce(last_archived_wal >= '$segment', false) FROM pgbk_archive_status") eq 't';
	}, "$name archived $segment");
}

# Every table's row count and content digest, as PgbkTest::table_digests for a node here.
sub table_digests
{
	my ($self, $name) = @_;
	my %digests;
	foreach my $t (split /\n/, $self->safe_psql($name,
		"SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' AND relpersistence = 'p' AND relnamespace = 'public'::regnamespace ORDER BY 1"))
	{
		$digests{$t} = $self->safe_psql($name,
			"SELECT count(*) || ':' || coalesce(md5(string_agg(x.r, '|' ORDER BY x.r)), '') FROM (SELECT t::text AS r FROM $t t) x");
	}
	return \%digests;
}

1;
