pub use llm_layers_core as core;
