//! Every setting, declared once: its key, default, docs and examples, how
//! the file and the variables write it, the check and what it sets. The
//! reader of the file and the variables, the builder's setters, the error
//! messages and the table of `docs/settings.md` all follow from it.

use super::read::{self, Problem, Raw, Shown};
use super::{
    BackendKind, ConfigBuilder, ConfigError, ConfigSource, ConfiguredToken, ContractSource,
    Describes, HandshakeHeaders, OwnerRule, Readiness, RealWebSocketTestConfig, SequenceRule,
    UnknownKinds,
};
use crate::config::Template;
use crate::protocol::EventType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// One setting, as [`settings!`] declares it.
pub(super) struct Setting {
    /// The key in the file; the variable is `WS_HARNESS_` and the key in
    /// capitals, `.` as `_`.
    pub(super) key: &'static str,
    /// What it sets (Markdown), for the table.
    #[cfg(test)]
    doc: &'static str,
    /// The default (Markdown), for the table.
    #[cfg(test)]
    default: &'static str,
    /// A good value as the file writes it.
    file_example: &'static str,
    /// A good value as a variable writes it.
    env_example: &'static str,
    /// Reads a value as the file or a variable wrote it, checks it and sets
    /// it; else the value as an error shows it, and the problem.
    apply: ApplyRaw,
}

type ApplyRaw =
    fn(&mut RealWebSocketTestConfig, &Raw, &ConfigSource) -> Result<(), (String, Problem)>;

type ApplyCode = Box<dyn FnOnce(&mut RealWebSocketTestConfig) -> Result<(), Problem> + Send>;

/// A value set in code, checked and set when the config is built.
pub(super) struct CodeValue {
    key: &'static str,
    shown: String,
    apply: ApplyCode,
}

impl Setting {
    /// The setting of `key`.
    pub(super) fn named(key: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|setting| setting.key == key)
    }

    /// Its environment variable.
    pub(super) fn variable(&self) -> String {
        format!("WS_HARNESS_{}", self.key.replace('.', "_").to_uppercase())
    }

    /// Its example as the file writes it: `key = value`.
    pub(super) fn in_file(&self) -> String {
        format!("{} = {}", self.key, self.file_example)
    }

    fn invalid(&self, origin: ConfigSource, value: String, problem: Problem) -> ConfigError {
        let example = match &origin {
            ConfigSource::Env { var } => format!("{var}={}", self.env_example),
            _ => self.in_file(),
        };
        ConfigError::InvalidValue {
            key: self.key,
            origin,
            value,
            problem,
            example,
        }
    }
}

impl RealWebSocketTestConfig {
    /// Reads, checks and sets `key` as the file or a variable wrote it.
    pub(super) fn apply_raw(
        &mut self,
        key: &str,
        raw: &Raw,
        source: ConfigSource,
    ) -> Result<(), ConfigError> {
        let Some(setting) = Setting::named(key) else {
            return Err(ConfigError::UnknownKey {
                key: key.to_owned(),
                origin: source,
            });
        };
        (setting.apply)(self, raw, &source)
            .map_err(|(value, problem)| setting.invalid(source.clone(), value, problem))?;
        self.sources.insert(setting.key, source);
        Ok(())
    }

    /// Checks and sets a value set in code.
    pub(super) fn apply_code(&mut self, value: CodeValue) -> Result<(), ConfigError> {
        let setting = Setting::named(value.key).expect("the builder sets declared keys");
        (value.apply)(self)
            .map_err(|problem| setting.invalid(ConfigSource::Code, value.shown, problem))?;
        self.sources.insert(setting.key, ConfigSource::Code);
        Ok(())
    }
}

/// The table of `docs/settings.md`.
#[cfg(test)]
fn settings_table() -> String {
    use std::fmt::Write as _;
    let mut table = String::from(
        "| key | variable | default | what it sets | for example |\n|---|---|---|---|---|\n",
    );
    for setting in SETTINGS {
        writeln!(
            table,
            "| `{}` | `{}` | {} | {} | `{}` |",
            setting.key,
            setting.variable(),
            setting.default,
            setting.doc.trim(),
            setting.in_file(),
        )
        .expect("writing to a String");
    }
    table
}

/// Declares the settings: [`SETTINGS`] and a [`ConfigBuilder`] setter for
/// each. An entry:
///
/// ```text
/// /// What it sets.
/// setter(argument: ArgumentType) -> ValueType { value from argument }
///     key "file.key", default "the default", file "file form", env "variable form",
///     read <reads the value from Raw>, set |config, value| <checks and sets it>;
/// ```
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $setter:ident($arg:ident: $arg_ty:ty) -> $ty:ty { $conv:expr }
            key $key:literal, default $default:literal, file $file:literal, env $env:literal,
            read $read:expr, set |$c:ident, $v:ident| $set:expr;
    )*) => {
        /// Every setting, in the order of the docs.
        pub(super) const SETTINGS: &[Setting] = &[$(
            Setting {
                key: $key,
                #[cfg(test)]
                doc: concat!($($doc),+),
                #[cfg(test)]
                default: $default,
                file_example: $file,
                env_example: $env,
                apply: |$c, raw, source| {
                    let shown = || <$ty as Shown>::shown_raw(raw);
                    let $v: $ty = ($read)(raw, source).map_err(|p| (shown(), p))?;
                    let set = |$c: &mut RealWebSocketTestConfig, $v: $ty| -> Result<(), Problem> {
                        $set;
                        Ok(())
                    };
                    set($c, $v).map_err(|p| (shown(), p))
                },
            },
        )*];

        impl ConfigBuilder {$(
            #[doc = concat!("Sets `", $key, "` (default: ", $default, "):")]
            $(#[doc = $doc])+
            pub fn $setter(self, $arg: $arg_ty) -> Self {
                let $v: $ty = $conv;
                self.code(CodeValue {
                    key: $key,
                    shown: $v.shown(),
                    apply: Box::new(move |$c| {
                        $set;
                        Ok(())
                    }),
                })
            }
        )*}
    };
}

settings! {
    /// A `ws://` or `wss://` server to test instead of the chain.
    url(url: Url) -> Url { url }
        key "url", default "none", file "\"ws://127.0.0.1:8765/ws\"", env "ws://127.0.0.1:8765/ws",
        read read::url, set |c, v| c.url = Some(read::websocket_url(v)?);

    /// The HS256 secret tokens are minted with.
    jwt_secret(secret: impl Into<String>) -> String { secret.into() }
        key "jwt_secret", default "the published test secret", file "\"a-long-random-string\"",
        env "a-long-random-string",
        read read::text, set |c, v| c.jwt_secret = read::non_empty(v)?;

    /// A fixed token for every client of staging, a `url` or your service,
    /// instead of one minted per user.
    token(token: impl Into<String>) -> String { token.into() }
        key "token", default "none", file "\"eyJhbGciOiJIUzI1NiJ9.e30.sig\"",
        env "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        read read::text, set |c, v| c.token = Some(ConfiguredToken::Value(read::non_empty(v)?));

    /// A file holding that token, read once per resolution.
    token_file(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "token_file", default "none", file "\"secrets/staging.token\"",
        env "secrets/staging.token",
        read read::path, set |c, v| c.token = Some(ConfiguredToken::File(read::non_empty(v)?));

    /// A command printing that token (a cloud CLI), run once per resolution.
    token_command(command: impl Into<String>) -> String { command.into() }
        key "token_command", default "none", file "\"gcloud auth print-identity-token\"",
        env "gcloud auth print-identity-token",
        read read::text, set |c, v| c.token = Some(ConfiguredToken::Command(read::not_blank(v)?));

    /// Extra handshake headers of staging, a `url` and your service
    /// (`Cookie`, API keys, `Origin`); a table in the file, errors show
    /// their names only.
    headers(headers: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>)
        -> Vec<(String, String)> { headers.into_iter().map(|(n, v)| (n.into(), v.into())).collect() }
        key "headers", default "none", file "{ Origin = \"https://app.example\", X-Api-Key = \"k-123\" }",
        env "Origin=https://app.example,X-Api-Key=k-123",
        read read::pairs("Name=value"), set |c, v| c.headers = HandshakeHeaders::new(v).map_err(|e| e.to_string())?;

    /// A PEM file of CAs trusted beside the platform's roots, for `wss://`.
    tls_ca_file(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "tls_ca_file", default "none", file "\"certs/staging-ca.pem\"", env "certs/staging-ca.pem",
        read read::path, set |c, v| c.tls.ca_file = Some(read::non_empty(v)?);

    /// A PEM certificate chain for mutual TLS (with `tls_client_key`).
    tls_client_cert(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "tls_client_cert", default "none", file "\"certs/client.pem\"", env "certs/client.pem",
        read read::path, set |c, v| c.tls.client_cert = Some(read::non_empty(v)?);

    /// The PEM key of `tls_client_cert`.
    tls_client_key(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "tls_client_key", default "none", file "\"certs/client.key\"", env "certs/client.key",
        read read::path, set |c, v| c.tls.client_key = Some(read::non_empty(v)?);

    /// Accept any server certificate; the report warns.
    tls_insecure_skip_verify(skip: bool) -> bool { skip }
        key "tls_insecure_skip_verify", default "`false`", file "true", env "true",
        read read::boolean, set |c, v| c.tls.insecure_skip_verify = v;

    /// The event types every run must send, in order (comma-separated in
    /// the variable).
    required_agent_events(events: impl IntoIterator<Item = EventType>) -> Vec<EventType> {
        events.into_iter().collect()
    }
        key "required_agent_events", default "the five of `PROTOCOL.md`",
        file "[\"agent_started\", \"agent_completed\"]", env "agent_started,agent_completed",
        read read::events, set |c, v| c.required_agent_events = read::some_events(v)?;

    /// The users `ws-harness check` runs at once.
    concurrent_connections(users: usize) -> usize { users }
        key "concurrent_connections", default "10", file "10", env "10",
        read read::whole, set |c, v| c.concurrent_connections = read::at_least_one(v)?;

    /// The longest one connection attempt may take.
    connection_timeout(timeout: Duration) -> Duration { timeout }
        key "connection_timeout", default "`15s`", file "\"15s\"", env "15s",
        read read::duration, set |c, v| c.connection_timeout = read::positive(v)?;

    /// The default wait of every expectation.
    event_timeout(timeout: Duration) -> Duration { timeout }
        key "event_timeout", default "`10s`", file "\"10s\"", env "10s",
        read read::duration, set |c, v| c.event_timeout = read::positive(v)?;

    /// Connection retries after the first attempt.
    max_retries(retries: u32) -> u32 { retries }
        key "max_retries", default "5", file "5", env "5",
        read read::whole, set |c, v| c.max_retries = v;

    /// The largest frame a client accepts, in bytes; a larger one closes
    /// the connection with an error naming this key.
    max_frame_size(bytes: usize) -> usize { bytes }
        key "max_frame_size", default "`16 MiB`", file "\"16 MiB\"", env "16MiB",
        read read::size, set |c, v| c.max_frame_size = read::some_bytes(v)?;

    /// The largest message (all its frames) a client accepts, in bytes.
    max_message_size(bytes: usize) -> usize { bytes }
        key "max_message_size", default "`64 MiB`", file "\"64 MiB\"", env "64MiB",
        read read::size, set |c, v| c.max_message_size = read::some_bytes(v)?;

    /// The newest received frames a client keeps in its transcript; older
    /// ones are counted, not kept.
    transcript_frames(frames: usize) -> usize { frames }
        key "transcript_frames", default "10000", file "10000", env "10000",
        read read::whole, set |c, v| c.transcript_window.frames = read::at_least_one(v)?;

    /// The most bytes of frame text a client keeps in its transcript.
    transcript_bytes(bytes: usize) -> usize { bytes }
        key "transcript_bytes", default "`64 MiB`", file "\"64 MiB\"", env "64MiB",
        read read::size, set |c, v| c.transcript_window.bytes = read::some_bytes(v)?;

    /// The tiers a suite accepts, tried in this order (`in-process` alone
    /// forces that tier), or `auto`: container, staging, in-process, mock.
    backend(tiers: impl IntoIterator<Item = BackendKind>) -> Vec<BackendKind> { tiers.into_iter().collect() }
        key "backend", default "`auto`", file "[\"staging\", \"mock\"]", env "staging,mock",
        read read::tiers, set |c, v| c.backend = read::some_tiers(v)?;

    /// A tier that must be chosen, so CI cannot fall back.
    require(tier: BackendKind) -> BackendKind { tier }
        key "require", default "none", file "\"container\"", env "container",
        read read::parsed, set |c, v| c.require = Some(v);

    /// The staging server of the chain's second tier.
    staging_url(url: Url) -> Url { url }
        key "staging_url", default "none", file "\"wss://staging.example/ws\"",
        env "wss://staging.example/ws",
        read read::url, set |c, v| c.staging_url = Some(read::websocket_url(v)?);

    /// When staging counts as up: `websocket` (an authenticated handshake),
    /// `http:<path>[=<status>]` or `reference`.
    staging_ready(ready: Readiness) -> Readiness { ready }
        key "staging_ready", default "`websocket`", file "\"http:/healthz\"", env "http:/healthz",
        read read::parsed, set |c, v| c.staging_ready = read::staging_readiness(v)?;

    /// How long the reference container lives unused before it stops and
    /// removes itself.
    container_idle_exit(idle: Duration) -> Duration { idle }
        key "container_idle_exit", default "`60s`", file "\"60s\"", env "60s",
        read read::duration, set |c, v| c.container_idle_exit = read::positive(v)?;

    /// Your service's image, `name:tag`, used as present (never pulled).
    service_image(image: impl Into<String>) -> String { image.into() }
        key "service.image", default "the reference image", file "\"my-service:dev\"",
        env "my-service:dev",
        read read::text, set |c, v| c.service_keys.image = Some(read::image_reference(v)?);

    /// A Dockerfile to build your service's image from, tagged by a hash of
    /// it and its context: an edit rebuilds, nothing else does (`.git` and
    /// plain paths in `.dockerignore` are left out).
    service_dockerfile(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "service.dockerfile", default "none", file "\"Dockerfile\"", env "Dockerfile",
        read read::path, set |c, v| c.service_keys.dockerfile = Some(read::non_empty(v)?);

    /// The Dockerfile's build context.
    service_context(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "service.context", default "the Dockerfile's directory", file "\".\"", env ".",
        read read::path, set |c, v| c.service_keys.context = Some(read::non_empty(v)?);

    /// A compose file whose services all start, with `service.compose_service`.
    service_compose_file(path: impl Into<PathBuf>) -> PathBuf { path.into() }
        key "service.compose_file", default "none", file "\"compose.yaml\"", env "compose.yaml",
        read read::path, set |c, v| c.service_keys.compose_file = Some(read::non_empty(v)?);

    /// The compose file's service that is tested.
    service_compose_service(service: impl Into<String>) -> String { service.into() }
        key "service.compose_service", default "none", file "\"api\"", env "api",
        read read::text, set |c, v| c.service_keys.compose_service = Some(read::non_empty(v)?);

    /// The port your service listens on inside the container, 1 to 65535.
    service_port(port: u16) -> u16 { port }
        key "service.port", default "8765 for the reference image; required for yours",
        file "8080", env "8080",
        read read::port, set |c, v| c.service_keys.port = Some(read::nonzero_port(v)?);

    /// The path of its WebSocket endpoint.
    service_ws_path(path: impl Into<String>) -> String { path.into() }
        key "service.ws_path", default "`/ws`", file "\"/ws\"", env "/ws",
        read read::text, set |c, v| c.service.ws_path = read::absolute_path(v)?;

    /// Environment variables of the container; `${jwt_secret}` and
    /// `${token}` stand for the config's, so the service checks the tokens
    /// the tests mint.
    service_env(env: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>)
        -> BTreeMap<String, String> { env.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
        key "service.env", default "none", file "{ JWT_SECRET = \"${jwt_secret}\" }",
        env "JWT_SECRET=${jwt_secret},LOG=debug",
        read read::pairs("NAME=value"), set |c, v| c.service.env = read::variable_names(v)?;

    /// The container's command: arguments after the image's entry point
    /// (split on whitespace in the variable).
    service_cmd(args: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        args.into_iter().map(Into::into).collect()
    }
        key "service.cmd", default "the image's", file "[\"--port\", \"8080\"]", env "--port 8080",
        read read::words, set |c, v| c.service.cmd = v;

    /// How long the container may take to start and be ready.
    service_startup_timeout(timeout: Duration) -> Duration { timeout }
        key "service.startup_timeout", default "`30s`", file "\"30s\"", env "30s",
        read read::duration, set |c, v| c.service.startup_timeout = read::positive(v)?;

    /// When your service counts as up: `websocket`, `http:<path>[=<status>]`,
    /// `log:<text>` (stdout or stderr) or `reference`.
    service_ready(ready: Readiness) -> Readiness { ready }
        key "service.ready", default "`websocket`; `reference` for the reference image",
        file "\"http:/healthz\"", env "http:/healthz",
        read read::parsed, set |c, v| c.service_keys.ready = Some(read::readiness(v)?);

    /// Where the contract comes from: `reference`, `none`, or an AsyncAPI
    /// document or JSON Schema file.
    contract_source(source: ContractSource) -> ContractSource { source }
        key "contract.source", default "`reference`", file "\"asyncapi.yaml\"", env "asyncapi.yaml",
        read read::contract_source, set |c, v| c.contract.source = read::contract_file(v)?;

    /// The field whose value names a frame's kind.
    contract_kind_field(field: impl Into<String>) -> String { field.into() }
        key "contract.kind_field", default "`type`", file "\"type\"", env "type",
        read read::text, set |c, v| c.contract.kind_field = read::non_empty(v)?;

    /// Whether a frame of a kind the contract does not name is a
    /// `violation` or allowed (`allow`).
    contract_unknown_kinds(rule: UnknownKinds) -> UnknownKinds { rule }
        key "contract.unknown_kinds", default "`violation`", file "\"allow\"", env "allow",
        read read::one_of(&[("allow", UnknownKinds::Allow), ("violation", UnknownKinds::Violation)]),
        set |c, v| c.contract.unknown_kinds = v;

    /// Which application an AsyncAPI document describes: the `service`, or
    /// its `client` (whose `send` messages the service receives).
    contract_describes(side: Describes) -> Describes { side }
        key "contract.describes", default "`service`", file "\"client\"", env "client",
        read read::one_of(&[("service", Describes::Service), ("client", Describes::Client)]),
        set |c, v| c.contract.describes = v;

    /// The field that must go up per stream.
    contract_sequence_field(field: impl Into<String>) -> String { field.into() }
        key "contract.sequence_field", default "none", file "\"seq\"", env "seq",
        read read::text, set |c, v| c.contract.sequence_field = Some(read::non_empty(v)?);

    /// How it must go up: `gapless` or `increasing`.
    contract_sequence(rule: SequenceRule) -> SequenceRule { rule }
        key "contract.sequence", default "`gapless`", file "\"increasing\"", env "increasing",
        read read::one_of(&[("gapless", SequenceRule::Gapless), ("increasing", SequenceRule::Increasing)]),
        set |c, v| c.contract.sequence = v;

    /// A field after which the sequence goes on from its value.
    contract_sequence_restart_field(field: impl Into<String>) -> String { field.into() }
        key "contract.sequence_restart_field", default "none", file "\"oldest_event_id\"",
        env "oldest_event_id",
        read read::text, set |c, v| c.contract.sequence_restart_field = Some(read::non_empty(v)?);

    /// The field that must name the stream's owner.
    contract_owner_field(field: impl Into<String>) -> String { field.into() }
        key "contract.owner_field", default "none", file "\"user\"", env "user",
        read read::text, set |c, v| c.contract.owner_field = Some(read::non_empty(v)?);

    /// Who the owner is: `subject` (the `sub` of the client's token) or a
    /// fixed value.
    contract_owner(owner: OwnerRule) -> OwnerRule { owner }
        key "contract.owner", default "`subject`", file "\"subject\"", env "subject",
        read read::owner, set |c, v| c.contract.owner = read::owner_value(v)?;

    /// Fields no frame may carry.
    contract_forbidden_fields(fields: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        fields.into_iter().map(Into::into).collect()
    }
        key "contract.forbidden_fields", default "none", file "[\"data\"]", env "data,payload",
        read read::list, set |c, v| c.contract.forbidden_fields = Some(v);

    /// The field that names a frame's run.
    contract_run_field(field: impl Into<String>) -> String { field.into() }
        key "contract.run_field", default "none", file "\"run\"", env "run",
        read read::text, set |c, v| c.contract.run_field = Some(read::non_empty(v)?);

    /// The kinds every run carries, in this order; the last one needs all
    /// of them.
    contract_run_events(kinds: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        kinds.into_iter().map(Into::into).collect()
    }
        key "contract.run_events", default "none", file "[\"started\", \"done\"]", env "started,done",
        read read::list, set |c, v| c.contract.run_events = Some(v);

    /// Kinds after which a run has ended: nothing of it may follow.
    contract_terminal_kinds(kinds: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        kinds.into_iter().map(Into::into).collect()
    }
        key "contract.terminal_kinds", default "none", file "[\"done\", \"failed\"]",
        env "done,failed",
        read read::list, set |c, v| c.contract.terminal_kinds = Some(v);

    /// The frame a client sends after a reconnect to get what it missed
    /// (JSON; `${last}`: the last sequence value it received; the
    /// `reference` source sends its `resume`).
    contract_resume_frame(frame: Template) -> Template { frame }
        key "contract.resume_frame", default "none", file "'{\"op\": \"resume\", \"after\": \"${last}\"}'",
        env "{\"op\": \"resume\", \"after\": \"${last}\"}",
        read read::parsed, set |c, v| c.contract.resume_frame = Some(read::resume_frame(v)?);

    /// The kind of the service's answer to the resume frame, awaited
    /// after it (the `reference` source: `resumed`).
    contract_resume_reply(kind: impl Into<String>) -> String { kind.into() }
        key "contract.resume_reply", default "none", file "\"resumed\"", env "resumed",
        read read::text, set |c, v| c.contract.resume_reply = Some(read::non_empty(v)?);

    /// The fault proxy in front of the commands' backend even with no
    /// faults (to measure it); a fault puts it there anyway.
    faults_proxy(on: bool) -> bool { on }
        key "faults.proxy", default "`false`", file "true", env "true",
        read read::boolean, set |c, v| c.faults.proxy = v;

    /// Toxics for the commands' fault proxy, as
    /// [`Toxic`](crate::faults::Toxic) writes them (`;` between them in the
    /// variable).
    faults_toxics(toxics: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        toxics.into_iter().map(Into::into).collect()
    }
        key "faults.toxics", default "none", file "[\"latency 200ms jitter=20ms\"]",
        env "latency 200ms;reset_peer 5s for alice",
        read read::entries, set |c, v| c.faults.toxics = v;

    /// Frame faults for the commands' fault proxy, as
    /// [`FrameFault`](crate::faults::FrameFault) writes them (`;` between
    /// them in the variable).
    faults_frames(faults: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
        faults.into_iter().map(Into::into).collect()
    }
        key "faults.frames", default "none", file "[\"drop kind=agent_thinking times=1\"]",
        env "drop kind=agent_thinking times=1;close 4000",
        read read::entries, set |c, v| c.faults.frames = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/settings.md` (also these docs) shows the table of the
    /// declarations above, as [`settings_table`] writes it.
    #[test]
    fn the_settings_page_shows_the_declared_table() {
        let page = include_str!("../../docs/settings.md");
        let table = settings_table();
        assert!(
            page.contains(&table),
            "docs/settings.md does not show the declared settings; its table should be:\n{table}"
        );
    }

    /// The examples errors give are good values, in the file and in a
    /// variable.
    #[test]
    fn every_example_is_a_good_value() {
        for setting in SETTINGS {
            let file = setting.in_file();
            let value: toml::Table = toml::from_str(&file).expect(&file);
            let (name, value) = value.into_iter().next().unwrap();
            let value = match value {
                toml::Value::Table(table) if setting.key.contains('.') => {
                    table.into_iter().next().unwrap().1
                }
                value => value,
            };
            assert_eq!(setting.key.split('.').next(), Some(name.as_str()));
            let mut config = RealWebSocketTestConfig::default();
            let source = ConfigSource::File {
                path: "ws-harness.toml".into(),
                line: 1,
            };
            config
                .apply_raw(setting.key, &Raw::from(value), source)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let var = setting.variable();
            let text = Raw::Text(setting.env_example.to_owned());
            config
                .apply_raw(setting.key, &text, ConfigSource::Env { var })
                .unwrap_or_else(|e| panic!("{}: {e}", setting.key));
        }
    }

    #[test]
    fn every_key_is_declared_once_and_read_from_its_variable() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        let service_port = Setting::named("service.port").unwrap();
        assert_eq!(service_port.variable(), "WS_HARNESS_SERVICE_PORT");
    }
}
