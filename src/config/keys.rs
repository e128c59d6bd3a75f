//! The keys: each one's name and examples, and how a value is held until it is checked.

use std::fmt;

/// The variable naming the config file.
pub const CONFIG_FILE_VAR: &str = "WS_HARNESS_CONFIG";
/// The config file looked for in the current directory.
pub const CONFIG_FILE_NAME: &str = "ws-harness.toml";

/// One key: its name, and an example in file (TOML) form and in variable form.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) toml_example: &'static str,
    pub(super) env_example: &'static str,
}

pub(super) const KEYS: [Key; 47] = [
    Key {
        name: "url",
        toml_example: "\"ws://127.0.0.1:8765/ws\"",
        env_example: "ws://127.0.0.1:8765/ws",
    },
    Key {
        name: "jwt_secret",
        toml_example: "\"a-long-random-string\"",
        env_example: "a-long-random-string",
    },
    Key {
        name: "token",
        toml_example: "\"eyJhbGciOiJIUzI1NiJ9.e30.sig\"",
        env_example: "eyJhbGciOiJIUzI1NiJ9.e30.sig",
    },
    Key {
        name: "token_file",
        toml_example: "\"secrets/staging.token\"",
        env_example: "secrets/staging.token",
    },
    Key {
        name: "token_command",
        toml_example: "\"gcloud auth print-identity-token\"",
        env_example: "gcloud auth print-identity-token",
    },
    Key {
        name: "headers",
        toml_example: "{ Origin = \"https://app.example\", X-Api-Key = \"k-123\" }",
        env_example: "Origin=https://app.example,X-Api-Key=k-123",
    },
    Key {
        name: "tls_ca_file",
        toml_example: "\"certs/staging-ca.pem\"",
        env_example: "certs/staging-ca.pem",
    },
    Key {
        name: "tls_client_cert",
        toml_example: "\"certs/client.pem\"",
        env_example: "certs/client.pem",
    },
    Key {
        name: "tls_client_key",
        toml_example: "\"certs/client.key\"",
        env_example: "certs/client.key",
    },
    Key {
        name: "tls_insecure_skip_verify",
        toml_example: "true",
        env_example: "true",
    },
    Key {
        name: "required_agent_events",
        toml_example: "[\"agent_started\", \"agent_completed\"]",
        env_example: "agent_started,agent_completed",
    },
    Key {
        name: "concurrent_connections",
        toml_example: "10",
        env_example: "10",
    },
    Key {
        name: "connection_timeout",
        toml_example: "\"15s\"",
        env_example: "15s",
    },
    Key {
        name: "event_timeout",
        toml_example: "\"10s\"",
        env_example: "10s",
    },
    Key {
        name: "max_retries",
        toml_example: "5",
        env_example: "5",
    },
    Key {
        name: "max_frame_size",
        toml_example: "\"16 MiB\"",
        env_example: "16MiB",
    },
    Key {
        name: "max_message_size",
        toml_example: "\"64 MiB\"",
        env_example: "64MiB",
    },
    Key {
        name: "transcript_frames",
        toml_example: "10000",
        env_example: "10000",
    },
    Key {
        name: "transcript_bytes",
        toml_example: "\"64 MiB\"",
        env_example: "64MiB",
    },
    Key {
        name: "backend",
        toml_example: "\"in-process\"",
        env_example: "in-process",
    },
    Key {
        name: "require",
        toml_example: "\"container\"",
        env_example: "container",
    },
    Key {
        name: "staging_url",
        toml_example: "\"ws://staging.example:8765/ws\"",
        env_example: "ws://staging.example:8765/ws",
    },
    Key {
        name: "staging_ready",
        toml_example: "\"http:/healthz\"",
        env_example: "http:/healthz",
    },
    Key {
        name: "container_idle_exit",
        toml_example: "\"60s\"",
        env_example: "60s",
    },
    Key {
        name: "service.image",
        toml_example: "\"my-service:dev\"",
        env_example: "my-service:dev",
    },
    Key {
        name: "service.dockerfile",
        toml_example: "\"Dockerfile\"",
        env_example: "Dockerfile",
    },
    Key {
        name: "service.context",
        toml_example: "\".\"",
        env_example: ".",
    },
    Key {
        name: "service.compose_file",
        toml_example: "\"compose.yaml\"",
        env_example: "compose.yaml",
    },
    Key {
        name: "service.compose_service",
        toml_example: "\"api\"",
        env_example: "api",
    },
    Key {
        name: "service.port",
        toml_example: "8080",
        env_example: "8080",
    },
    Key {
        name: "service.ws_path",
        toml_example: "\"/ws\"",
        env_example: "/ws",
    },
    Key {
        name: "service.env",
        toml_example: "{ JWT_SECRET = \"${jwt_secret}\" }",
        env_example: "JWT_SECRET=${jwt_secret},LOG=debug",
    },
    Key {
        name: "service.cmd",
        toml_example: "[\"--port\", \"8080\"]",
        env_example: "--port 8080",
    },
    Key {
        name: "service.startup_timeout",
        toml_example: "\"30s\"",
        env_example: "30s",
    },
    Key {
        name: "service.ready",
        toml_example: "\"http:/healthz\"",
        env_example: "http:/healthz",
    },
    Key {
        name: "contract.source",
        toml_example: "\"asyncapi.yaml\" (or \"reference\", \"none\")",
        env_example: "asyncapi.yaml",
    },
    Key {
        name: "contract.kind_field",
        toml_example: "\"type\"",
        env_example: "type",
    },
    Key {
        name: "contract.unknown_kinds",
        toml_example: "\"allow\" (or \"violation\")",
        env_example: "allow",
    },
    Key {
        name: "contract.sequence_field",
        toml_example: "\"seq\"",
        env_example: "seq",
    },
    Key {
        name: "contract.sequence",
        toml_example: "\"increasing\" (or \"gapless\")",
        env_example: "increasing",
    },
    Key {
        name: "contract.sequence_restart_field",
        toml_example: "\"oldest_event_id\"",
        env_example: "oldest_event_id",
    },
    Key {
        name: "contract.owner_field",
        toml_example: "\"user\"",
        env_example: "user",
    },
    Key {
        name: "contract.owner",
        toml_example: "\"subject\" (the token's sub) or a fixed value",
        env_example: "subject",
    },
    Key {
        name: "contract.forbidden_fields",
        toml_example: "[\"data\"]",
        env_example: "data,payload",
    },
    Key {
        name: "contract.run_field",
        toml_example: "\"run\"",
        env_example: "run",
    },
    Key {
        name: "contract.run_events",
        toml_example: "[\"started\", \"done\"]",
        env_example: "started,done",
    },
    Key {
        name: "contract.terminal_kinds",
        toml_example: "[\"done\", \"failed\"]",
        env_example: "done,failed",
    },
];

/// A value as one source wrote it.
pub(super) enum Raw {
    Text(String),
    Integer(i64),
    Bool(bool),
    List(Vec<String>),
    Map(Vec<(String, String)>),
    Other(String),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(s) => write!(f, "{s:?}"),
            Raw::Integer(n) => write!(f, "{n}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::List(items) => write!(f, "{items:?}"),
            Raw::Map(entries) => {
                let pairs: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                write!(f, "{{{}}}", pairs.join(", "))
            }
            Raw::Other(s) => f.write_str(s),
        }
    }
}

/// A TOML value as the keys take it.
pub(super) fn raw_value(value: toml::Value) -> Raw {
    match value {
        toml::Value::String(s) => Raw::Text(s),
        toml::Value::Integer(n) => Raw::Integer(n),
        toml::Value::Boolean(b) => Raw::Bool(b),
        toml::Value::Array(items) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            match strings {
                Some(strings) => Raw::List(strings),
                None => Raw::Other(toml::Value::Array(items).to_string()),
            }
        }
        toml::Value::Table(table) => {
            let entries: Option<Vec<(String, String)>> = table
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect();
            match entries {
                Some(entries) => Raw::Map(entries),
                None => Raw::Other(toml::Value::Table(table).to_string()),
            }
        }
        other => Raw::Other(other.to_string()),
    }
}
