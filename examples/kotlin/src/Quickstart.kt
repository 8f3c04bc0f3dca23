// Quickstart: connect, look at the schema, handle a typed error.
//
// The same scenario runs in examples/rust/quickstart.rs, examples/python/quickstart.py and
// examples/node/quickstart.mjs.
//
//     make uniffi && cd examples/kotlin && mvn -q package
//     java -Djna.library.path=../../target/debug -cp "target/classes:$(cat target/classpath.txt)" QuickstartKt
//     (KEEL_DATABASE_URL=postgres://… for PostgreSQL)

import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.code
import dev.keel.info
import kotlinx.coroutines.runBlocking

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:quickstart]
    val db = Keel.connect(url)
    val migrations = db.appliedMigrations()
    println("connected to ${db.url()} (${db.backend()}), ${migrations.size} migration(s) applied")

    try {
        Keel.connect("postgres://app:hunter2@127.0.0.1:9/keel")
    } catch (err: KeelException) {
        println("${err.code}: ${err.info.detail}") // "connection: cannot connect to postgres://app:***@…"
    }
    db.shutdown()
    // --8<-- [end:quickstart]
}
