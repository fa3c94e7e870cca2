//! `apikey-task schema`: the published JSON Schemas, or the loaded definition.

use apikey_task::{Endpoint, TestReport};

use crate::cli::SchemaKind;
use crate::io::{Unusable, json_error, print_json};

pub fn run(endpoint: &Endpoint, which: SchemaKind) -> Result<u8, Unusable> {
    let report = TestReport::schema();
    let document = match which {
        SchemaKind::Input => endpoint.input_schema(),
        SchemaKind::Output => endpoint.output_schema(),
        SchemaKind::Report => &report,
        SchemaKind::Definition => endpoint.definition().document(),
    };
    print_json(&serde_json::to_string_pretty(document).map_err(json_error)?)?;
    Ok(0)
}
