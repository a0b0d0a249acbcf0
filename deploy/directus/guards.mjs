// Install the rewrap guard triggers: a database-level compare-and-set for `flask keys rewrap`.
//
//   node guards.mjs <guard column> <collection>:<encrypted field> [...]
//   node guards.mjs --check <guard column> <collection>:<encrypted field> [...]
//
// The guard column and the pairs are credsvc.model's GUARD_FIELD and REWRAP_GUARDED, passed by
// directusctl.install_guards / check_guards.
//
// --check installs nothing: it prints, as JSON, which collections lack the column or a trigger
// ({"client": "sqlite", "missing": {"<collection>": ["<what>", ...]}}), for adopt.py.
//
// Run by directusctl.install_guards (after every `schema apply`) with the environment of the
// Directus process, so the database is reached exactly as Directus reaches it: through Directus's
// own getDatabase() (its knex, its driver, its DB_* / DB_FILENAME settings).
//
// Every guarded collection has a nullable text guard column (rewrap_guard) that is NULL at rest. An
// UPDATE that sets it to a non-null value is a conditional update: it goes through only when the
// guard equals the row's current encrypted value (as it is when the UPDATE runs, under the row's
// write lock), and the guard is then reset to NULL; otherwise the statement fails and Directus
// rolls back the request. Updates that leave the guard NULL (every service write) are untouched.
//
// The failure is raised in the shape Directus translates into a 400 NOT_NULL_VIOLATION naming
// the guard column (a plain RAISE would reach the client as an anonymous 500). The column
// is nullable, so Directus can never report that for a real NOT NULL violation: credsvc reads the
// answer as "the value changed under the guard" (credsvc/services/keys.py, is_guard_abort).
//
// Idempotent: existing guard triggers are dropped and recreated in one transaction. SQLite drops a
// table's triggers when `schema apply` rebuilds the table, hence the reinstall after every apply.
import { getDatabase, getDatabaseClient } from '@directus/api/database/index';

const NAME = /^[a-z_][a-z0-9_]*$/;
let GUARD; // the guard column: the first argument
const MESSAGE = 'credsvc: value changed during rewrap';

function parseArgs(args) {
	if (args.length < 2) throw new Error('usage: node guards.mjs [--check] <guard column> <collection>:<field> [...]');
	if (!NAME.test(args[0])) throw new Error(`bad guard column ${args[0]}`);
	GUARD = args[0];
	return args.slice(1).map((arg) => {
		const [table, field] = arg.split(':');
		if (!NAME.test(table ?? '') || !NAME.test(field ?? '')) throw new Error(`bad argument ${arg}`);
		return { table, field };
	});
}

function sqliteStatements({ table, field }) {
	// node-sqlite3 reports RAISE(ABORT, m) as "SQLITE_CONSTRAINT: m"; Directus's SQLite dialect
	// reads "...NOT NULL... <table>.<column>" (last word) as a NOT NULL violation of that column.
	const abort = `NOT NULL constraint failed (${MESSAGE}): ${table}.${GUARD}`;
	return [
		`DROP TRIGGER IF EXISTS "credsvc_rewrap_guard_${table}"`,
		`DROP TRIGGER IF EXISTS "credsvc_rewrap_guard_reset_${table}"`,
		`DROP TRIGGER IF EXISTS "credsvc_rewrap_guard_insert_${table}"`,
		`CREATE TRIGGER "credsvc_rewrap_guard_${table}" BEFORE UPDATE ON "${table}" FOR EACH ROW
		 WHEN NEW."${GUARD}" IS NOT NULL AND NEW."${GUARD}" IS NOT OLD."${field}"
		 BEGIN SELECT RAISE(ABORT, '${abort}'); END`,
		`CREATE TRIGGER "credsvc_rewrap_guard_reset_${table}" AFTER UPDATE ON "${table}" FOR EACH ROW
		 WHEN NEW."${GUARD}" IS NOT NULL
		 BEGIN UPDATE "${table}" SET "${GUARD}" = NULL WHERE rowid = NEW.rowid; END`,
		`CREATE TRIGGER "credsvc_rewrap_guard_insert_${table}" AFTER INSERT ON "${table}" FOR EACH ROW
		 WHEN NEW."${GUARD}" IS NOT NULL
		 BEGIN UPDATE "${table}" SET "${GUARD}" = NULL WHERE rowid = NEW.rowid; END`,
	];
}

function postgresStatements({ table, field }) {
	// ERRCODE 23502 with TABLE and COLUMN: Directus's PostgreSQL dialect reads the error's table
	// and column fields into a NOT NULL violation of that column.
	const fn = `credsvc_rewrap_guard_${table}`;
	return [
		`CREATE OR REPLACE FUNCTION "${fn}"() RETURNS trigger LANGUAGE plpgsql AS $guard$
		 BEGIN
		   IF TG_OP = 'UPDATE' AND NEW."${GUARD}" IS NOT NULL
		      AND NEW."${GUARD}" IS DISTINCT FROM OLD."${field}" THEN
		     RAISE EXCEPTION USING ERRCODE = 'not_null_violation', MESSAGE = '${MESSAGE}',
		       TABLE = TG_TABLE_NAME, COLUMN = '${GUARD}';
		   END IF;
		   NEW."${GUARD}" := NULL;
		   RETURN NEW;
		 END $guard$`,
		`DROP TRIGGER IF EXISTS "credsvc_rewrap_guard" ON "${table}"`,
		`CREATE TRIGGER "credsvc_rewrap_guard" BEFORE INSERT OR UPDATE ON "${table}"
		 FOR EACH ROW EXECUTE FUNCTION "${fn}"()`,
	];
}

// The names of the triggers `statements` creates (CREATE TRIGGER "<name>").
function triggerNames(statements, spec) {
	return statements(spec).flatMap((sql) => [...sql.matchAll(/CREATE TRIGGER "([^"]+)"/g)].map((m) => m[1]));
}

async function existingTriggers(db, client, table) {
	if (client === 'sqlite') {
		const rows = await db('sqlite_master').select('name').where({ type: 'trigger', tbl_name: table });
		return rows.map((row) => row.name);
	}
	const result = await db.raw(
		`SELECT t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		 WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal`,
		[table],
	);
	return result.rows.map((row) => row.name);
}

async function check(db, client, statements, guarded) {
	const missing = {};
	for (const spec of guarded) {
		const lacks = [];
		for (const column of [spec.field, GUARD]) {
			if (!(await db.schema.hasColumn(spec.table, column))) lacks.push(`column ${column}`);
		}
		const present = (await db.schema.hasTable(spec.table)) ? await existingTriggers(db, client, spec.table) : [];
		for (const name of triggerNames(statements, spec)) if (!present.includes(name)) lacks.push(`trigger ${name}`);
		if (lacks.length) missing[spec.table] = lacks;
	}
	console.log(JSON.stringify({ client, missing }));
}

async function main() {
	const args = process.argv.slice(2);
	const checkOnly = args[0] === '--check';
	const guarded = parseArgs(checkOnly ? args.slice(1) : args);
	const db = getDatabase();
	try {
		const client = getDatabaseClient(db);
		const statements = { sqlite: sqliteStatements, postgres: postgresStatements }[client];
		if (!statements) throw new Error(`rewrap guards are not implemented for ${client}`);
		if (checkOnly) return await check(db, client, statements, guarded);
		for (const { table, field } of guarded) {
			for (const column of [field, GUARD]) {
				if (!(await db.schema.hasColumn(table, column))) {
					throw new Error(`${table}.${column} does not exist: apply schema.yaml first`);
				}
			}
		}
		await db.transaction(async (trx) => {
			for (const spec of guarded) for (const sql of statements(spec)) await trx.raw(sql);
		});
		console.log(`rewrap guards installed (${client}): ${guarded.map((g) => g.table).join(', ')}`);
	} finally {
		await db.destroy();
	}
}

main().catch((error) => {
	console.error(`guards.mjs: ${error.message ?? error}`);
	process.exit(1);
});
