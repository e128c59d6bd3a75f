//! [`MockServer`]: the running mock, its pushes and its verification.

use super::MockConnectionId;
use super::builder::{MockError, MockServerBuilder};
use super::certificate::Certificate;
use super::connection::{MockConnection, Mounted, Outgoing, Shared, id_index};
use super::verification::{VerificationFailed, verify};
use super::{Handshake, Mock};
use crate::access::{Access, ClientTls};
use crate::chain::{BackendInfo, Chain};
use crate::config::BackendKind;
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use url::Url;

/// A WebSocket server scripted by the test: see [the module](super).
pub struct MockServer {
    name: String,
    url: Url,
    shared: Arc<Shared>,
    certificate: Option<Certificate>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl MockServer {
    pub(super) fn new(
        name: String,
        url: Url,
        shared: Arc<Shared>,
        certificate: Option<Certificate>,
        accept: JoinHandle<()>,
    ) -> Self {
        Self {
            name,
            url,
            shared,
            certificate,
            accept,
        }
    }

    /// A `ws://` mock named `mock`, started.
    ///
    /// # Errors
    /// [`MockError::Bind`] when it cannot listen.
    pub async fn start() -> Result<Self, MockError> {
        Self::builder().start().await
    }

    /// A builder, for a name, TLS or a subprotocol.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Its URL, e.g. `ws://127.0.0.1:41234/`.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Its name in reports.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PEM file of the CA that signed its certificate (`wss://` only).
    #[must_use]
    pub fn ca_file(&self) -> Option<&Path> {
        self.certificate.as_ref().map(|c| c.ca_file.as_path())
    }

    /// A TLS setup that trusts it (`wss://` only).
    #[must_use]
    pub fn client_tls(&self) -> Option<&ClientTls> {
        self.certificate.as_ref().map(|c| &c.client_tls)
    }

    /// It as the harness's backend, for a [`TestClientFactory`](crate::TestClientFactory):
    /// kind [`BackendKind::Mock`], test credentials, and for `wss://` a TLS
    /// setup that trusts it.
    #[must_use]
    pub fn info(&self) -> BackendInfo {
        BackendInfo {
            access: self.access(),
            ..BackendInfo::single(
                BackendKind::Mock,
                self.url.clone(),
                &format!("the mock server {:?}, chosen by the test", self.name),
            )
        }
    }

    fn access(&self) -> Access {
        Access {
            tls: self.client_tls().cloned(),
            ..Access::test()
        }
    }

    /// Mounts `mock` after the ones already there.
    pub fn mount(&self, mock: Mock) {
        self.shared.lock().mocks.push(Mounted { mock, matched: 0 });
    }

    /// Sends `frame` to one connection; `false` when it is closed.
    pub fn push_to(&self, connection: MockConnectionId, frame: &Value) -> bool {
        let state = self.shared.lock();
        state.open.get(&connection).is_some_and(|open| {
            open.send(Outgoing::Frame(Message::text(frame.to_string())))
                .is_ok()
        })
    }

    /// Sends `frame` to every open connection whose token's subject is
    /// `subject`; how many.
    pub fn push_to_subject(&self, subject: &str, frame: &Value) -> usize {
        self.push_where(frame, |handshake| {
            handshake.subject.as_deref() == Some(subject)
        })
    }

    /// Sends `frame` to every open connection; how many.
    pub fn push_all(&self, frame: &Value) -> usize {
        self.push_where(frame, |_| true)
    }

    fn push_where(&self, frame: &Value, to: impl Fn(&Handshake) -> bool) -> usize {
        // One copy of the text, shared by every connection's frame.
        let text = Utf8Bytes::from(frame.to_string());
        let state = self.shared.lock();
        state
            .open
            .iter()
            .filter(|(id, open)| {
                to(&state.connections[id_index(**id)].handshake)
                    && open
                        .send(Outgoing::Frame(Message::text(text.clone())))
                        .is_ok()
            })
            .count()
    }

    /// Every connection so far, open or closed, in order.
    #[must_use]
    pub fn connections(&self) -> Vec<MockConnection> {
        self.shared.lock().connections.clone()
    }

    /// Checks every mock answered as many frames as it expects, and, with
    /// a [contract](MockServerBuilder::contract), that no frame broke it.
    /// Returns at once: open connections do not hold it up. When a
    /// [chain](crate::chain::Chain::mock) chose another tier over this
    /// mock, nothing is checked: the suite ran elsewhere, and the log says
    /// so.
    ///
    /// # Errors
    /// [`VerificationFailed`], listing each mock with its expected and
    /// actual count, the frames no mock matched and the frames that broke
    /// the contract, by connection.
    pub fn verify(&self) -> Result<(), VerificationFailed> {
        verify(
            &self.shared.lock(),
            format!("{:?} at {}", self.name, self.url),
        )
    }
}

impl Drop for MockServer {
    /// Stops it and its connections, then verifies it: an unmet
    /// expectation panics, unless the thread is panicking already.
    fn drop(&mut self) {
        self.accept.abort();
        if !std::thread::panicking()
            && let Err(failed) = self.verify()
        {
            panic!("{failed}");
        }
    }
}

impl<'a> Chain<'a> {
    /// The test's mock as the chain's last tier. When another tier is
    /// chosen, the mock's expectations are not verified (its
    /// [`verify`](MockServer::verify) says why): one suite runs on every
    /// tier.
    pub fn mock(self, mock: &'a MockServer) -> Self {
        self.with_mock(mock.name.clone(), mock.url.clone(), mock.access(), |tier| {
            // Another tier served the suite: nothing to verify here.
            if let Some(tier) = tier {
                mock.shared.lock().passed_over_for = (tier != BackendKind::Mock).then_some(tier);
            }
        })
    }
}
