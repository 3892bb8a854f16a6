//! Reading a Batch API output file: never panics, and names only requests
//! of the job.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_batch::__fuzz::output_answers;

fuzz_target!(|input: (u8, &[u8])| {
    let (count, file) = input;
    for answer in output_answers(file, count as usize) {
        assert!(answer.index < count as usize);
        assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok());
    }
});
