//! The mock provider `--mock` starts in-process (feature `mock`, on by
//! default). A build without the feature links no mock and refuses
//! `--mock` at start with a message.

#[cfg(feature = "mock")]
pub use llm_layers_mock::MockServer as EmbeddedMock;

/// Starts the mock provider on 127.0.0.1.
#[cfg(feature = "mock")]
pub async fn start() -> Result<EmbeddedMock, String> {
    EmbeddedMock::start(llm_layers_mock::MockConfig::default())
        .await
        .map_err(|error| error.to_string())
}

/// No mock in this build: never made.
#[cfg(not(feature = "mock"))]
pub enum EmbeddedMock {}

#[cfg(not(feature = "mock"))]
impl EmbeddedMock {
    /// Its base URL (there is none to ask).
    pub fn base_url(&self) -> &str {
        match *self {}
    }
}

/// This build has no mock to start.
#[cfg(not(feature = "mock"))]
pub async fn start() -> Result<EmbeddedMock, String> {
    Err("this build has no embedded mock (build with the `mock` feature)".to_owned())
}
