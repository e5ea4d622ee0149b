// Embeds the agent console (ingest/console) into the binary, compressed, with ETags.
fn main() {
    memory_serve::load_directory("console");
}
