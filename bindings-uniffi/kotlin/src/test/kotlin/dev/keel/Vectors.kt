package dev.keel

import java.io.File
import org.json.JSONArray
import org.json.JSONObject

/** The shared vectors in `testdata/` (the folder is the `keel.testdata` system property). */
object Vectors {
    private val dir = File(System.getProperty("keel.testdata") ?: "../../testdata")

    /** The cases of `name`. */
    fun load(name: String): List<JSONObject> {
        val cases = JSONArray(File(dir, name).readText())
        return (0 until cases.length()).map { cases.getJSONObject(it) }
    }

    /** `value` with every object key in camelCase, at every depth (the vectors are snake_case). */
    fun camelKeys(value: Any?): Any? = when (value) {
        is JSONObject -> JSONObject().also { out -> value.keys().forEach { out.put(camel(it), camelKeys(value.get(it))) } }
        is JSONArray -> JSONArray((0 until value.length()).map { camelKeys(value.get(it)) })
        else -> value
    }

    /** `snake_case` as Kotlin spells it. */
    fun camel(name: String): String =
        name.split('_').mapIndexed { i, part -> if (i == 0) part else part.replaceFirstChar(Char::uppercase) }
            .joinToString("")
}

/** Runs `call`, which must fail with a Keel error; the error. */
inline fun keelError(name: String, call: () -> Unit): KeelException {
    try {
        call()
    } catch (e: KeelException) {
        return e
    }
    throw AssertionError("$name: expected a KeelException")
}
