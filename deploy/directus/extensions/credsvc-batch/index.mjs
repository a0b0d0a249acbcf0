// credsvc-batch: two batch writes that Directus's item service makes one row at a time.
//
//   POST /credsvc-batch/guarded-update/<collection>   [{id, <value field>, <guard field>}, ...]
//   POST /credsvc-batch/append/<collection>           [{<field>: <value>, ...}, ...]
//
// Directus's item service runs each row of a batch through its whole pipeline (permission query,
// payload processing, hooks, activity row, its own statements): 1.5 to 3 ms of Directus's CPU a
// row, which capped `keys rewrap` near 500 rows/s and made each reveal's audit row cost several
// GETs (docs/benchmarks.md). Here a batch is checked the way the item service checks its rows,
// with Directus's own functions, before anything is written:
//
// - the collection is active (assertCollectionActive) and the keys are well formed (validateKeys);
// - the caller's access (validateAccess): the update of exactly these primary keys and fields,
//   item rules included, or the create of rows;
// - the rows (processPayload: field permissions, permission validations and presets, the
//   schema's NOT NULL and validation rules) and the payload service (uuid, timestamps, casts).
//   A guarded update checks every row when a validation or preset applies to it, else one row:
//   its rows differ only in two string values no rule then looks at (valueRulesApply);
//
// and then written in one transaction: all rows or none. The rewrap guard triggers
// (deploy/directus/guards.mjs) fire on the update as on any other, and a guard abort rolls the
// batch back with Directus's own 400 NOT_NULL_VIOLATION naming the guard column, as the item
// service answers it. Like the item service it records a directus_activity row per written row.
// What it does not do, by design: no item hooks or flows, and no revisions (a collection that
// keeps them, `accountability: all`, is refused: a revision would keep an old ciphertext).
//
// Only the collections named in the environment are served; with a setting missing a route is
// not registered at all, so credsvc sees 404 ROUTE_NOT_FOUND and writes through the item API.
// Configuration (set by deploy/directus/directusctl.directus_env from credsvc.model):
//   CREDSVC_GUARD_FIELD     the guard column (rewrap_guard)
//   CREDSVC_GUARDED         <collection>:<value field>,... the guarded collections
//   CREDSVC_APPEND_ONLY     <collection>,...               the collections `append` serves
//   CREDSVC_BATCH_MAX_ROWS  rows in one request, at most
import { validateAccess } from '@directus/api/permissions/modules/validate-access/validate-access';
import { processPayload } from '@directus/api/permissions/modules/process-payload/process-payload';
import { assertCollectionActive } from '@directus/api/permissions/modules/assert-collection-active/assert-collection-active';
import { fetchPolicies } from '@directus/api/permissions/lib/fetch-policies';
import { fetchPermissions } from '@directus/api/permissions/lib/fetch-permissions';
import { translateDatabaseError } from '@directus/api/database/errors/translate';
import { validateKeys } from '@directus/api/utils/validate-keys';
import { getCache } from '@directus/api/cache';
import { ForbiddenError, InternalServerError, InvalidPayloadError, isDirectusError } from '@directus/errors';

// Rows per INSERT statement: knex writes a multi-row INSERT on SQLite as a compound SELECT,
// which SQLite caps at 500 terms (and at 32766 variables); all statements share one transaction.
const INSERT_CHUNK = 100;

function parseList(value) {
	return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function settings(env) {
	const guarded = new Map();
	for (const pair of parseList(env.CREDSVC_GUARDED)) {
		const [collection, field] = pair.split(':');
		if (collection && field) guarded.set(collection, field);
	}
	return {
		guard: env.CREDSVC_GUARD_FIELD || null,
		guarded,
		appendOnly: new Set(parseList(env.CREDSVC_APPEND_ONLY)),
		// Rows in one request (the body is bounded by Directus's MAX_PAYLOAD_SIZE as well).
		maxRows: Number.parseInt(env.CREDSVC_BATCH_MAX_ROWS ?? '', 10) || 0,
	};
}

const nonEmpty = (rule) => Boolean(rule) && Object.keys(rule).length > 0;

function isPlainObject(value) {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The collection's schema when this route serves it; Directus's 403 otherwise (as for a
// collection one may not use or that does not exist).
function servedCollection(schema, collection, served) {
	const info = schema.collections[collection];
	if (!served || !info) throw new ForbiddenError();
	if (info.accountability === 'all') {
		throw new ForbiddenError({ reason: `"${collection}" keeps revisions, which this route does not write` });
	}
	return info;
}

function rowsOf(body, maxRows) {
	if (!Array.isArray(body) || body.length === 0) {
		throw new InvalidPayloadError({ reason: 'Expected a non-empty JSON array of rows' });
	}
	if (body.length > maxRows) throw new InvalidPayloadError({ reason: `At most ${maxRows} rows a request` });
	for (const row of body) {
		if (!isPlainObject(row)) throw new InvalidPayloadError({ reason: 'Every row must be an object' });
		for (const value of Object.values(row)) {
			if (typeof value === 'object' && value !== null) {
				throw new InvalidPayloadError({ reason: 'Row values must be strings, numbers, booleans or null' });
			}
		}
	}
	return body;
}

// Rows to append: only the collection's own columns, never its primary key (the payload service
// generates it; credsvc never sends one).
function appendRows(body, maxRows, info) {
	const rows = rowsOf(body, maxRows);
	for (const row of rows) {
		for (const key of Object.keys(row)) {
			const field = info.fields[key];
			if (key === info.primary || !field || field.alias) {
				throw new InvalidPayloadError({ reason: `"${key}" is not a column rows may set` });
			}
		}
	}
	return rows;
}

function guardedRows(body, maxRows, pk, field, guard) {
	const rows = rowsOf(body, maxRows);
	const expected = [pk, field, guard].sort().join(',');
	const seen = new Set();
	for (const row of rows) {
		if (Object.keys(row).sort().join(',') !== expected) {
			throw new InvalidPayloadError({ reason: `Every row must have exactly "${pk}", "${field}" and "${guard}"` });
		}
		if (typeof row[pk] !== 'string' && typeof row[pk] !== 'number') {
			throw new InvalidPayloadError({ reason: `"${pk}" must be a string or a number` });
		}
		if (typeof row[field] !== 'string' || typeof row[guard] !== 'string' || row[guard] === '') {
			throw new InvalidPayloadError({ reason: `"${field}" and "${guard}" must be strings, the guard not empty` });
		}
		if (seen.has(String(row[pk]))) throw new InvalidPayloadError({ reason: `"${pk}" ${row[pk]} appears twice` });
		seen.add(String(row[pk]));
	}
	return rows;
}

// Whether writing a row can be refused for its values rather than its fields: a field validation
// in the schema, or a permission validation or preset of the caller's for this action. Without
// any, processPayload's verdict on one row of a guarded batch is every row's: the rows have the
// same keys, and their two values are non-empty strings (guardedRows), which the remaining
// rules (NOT NULL) always accept.
async function valueRulesApply({ accountability, action, collection }, context) {
	if (Object.values(context.schema.collections[collection].fields).some((f) => nonEmpty(f.validation))) return true;
	if (!accountability || accountability.admin) return false;
	const policies = await fetchPolicies(accountability, context);
	const permissions = await fetchPermissions({ action, policies, collections: [collection], accountability }, context);
	return permissions.some((p) => nonEmpty(p.validation) || nonEmpty(p.presets));
}

// A row as processPayload and the payload service leave it, cut to the collection's own columns
// (a preset may name others), without the primary key unless `keepKey`.
async function prepared(row, { accountability, action, collection, context, payloads, check, keepKey }) {
	let data = { ...row };
	if (accountability && check) data = await processPayload({ accountability, action, collection, payload: data }, context);
	data = await payloads.processValues(action, data); // one object in, one out
	const info = context.schema.collections[collection];
	return Object.fromEntries(
		Object.entries(data).filter(([key]) => info.fields[key] && !info.fields[key].alias && (keepKey || key !== info.primary)),
	);
}

async function insertRows(trx, table, rows) {
	for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
		await trx(table).insert(rows.slice(start, start + INSERT_CHUNK));
	}
}

// The directus_activity rows the item service writes for these rows (services/items.js: one per
// item, when the request has an accountability and the collection's accountability is set).
async function activityRows({ schema, accountability, collection, action, keys, PayloadService, knex }) {
	if (!accountability || schema.collections[collection].accountability === null) return [];
	const payloads = new PayloadService('directus_activity', { knex, schema });
	const rows = [];
	for (const item of keys) {
		rows.push(
			await payloads.processValues('create', {
				action,
				user: accountability.user ?? null,
				collection,
				ip: accountability.ip ?? null,
				user_agent: accountability.userAgent ?? null,
				origin: accountability.origin ?? null,
				item: String(item),
			}),
		);
	}
	return rows;
}

async function purgeCache(env) {
	// What the item service does after a write when Directus's data cache is on.
	if (String(env.CACHE_AUTO_PURGE) !== 'true') return;
	const { cache } = getCache();
	if (cache) await cache.clear();
}

// Every failure leaves as a Directus error: its own (403, 400 ...), a database error in the
// shape the item service gives it (a guard abort among them), or a bare 500. The text of an
// untranslated database error holds the batch's SQL and values, so it is neither answered nor
// logged: only its code is.
async function asDirectusError(error, logger) {
	if (isDirectusError(error) || Array.isArray(error)) return error;
	try {
		const translated = await translateDatabaseError(error, {});
		if (isDirectusError(translated)) return translated;
	} catch {
		// fall through: never let the translation fail the request a second time
	}
	logger.error(`credsvc-batch: database error ${String(error?.code ?? error?.name ?? 'unknown')}`);
	return new InternalServerError();
}

export default {
	id: 'credsvc-batch',
	handler: (router, { database, env, services, logger }) => {
		const config = settings(process.env);
		const { PayloadService } = services;
		if (!config.maxRows) {
			logger.warn('credsvc-batch: CREDSVC_BATCH_MAX_ROWS is not set; no route served');
			return;
		}

		if (config.guard && config.guarded.size > 0) {
			router.post('/guarded-update/:collection', async (req, res, next) => {
				try {
					const { collection } = req.params;
					const field = config.guarded.get(collection);
					const info = servedCollection(req.schema, collection, Boolean(field));
					const pk = info.primary;
					const rows = guardedRows(req.body, config.maxRows, pk, field, config.guard);
					const keys = rows.map((row) => row[pk]);
					const accountability = req.accountability;
					const context = { knex: database, schema: req.schema };
					await assertCollectionActive({ accountability, collection, action: 'update' }, context);
					validateKeys(req.schema, collection, pk, keys);
					await validateAccess(
						{ accountability, action: 'update', collection, primaryKeys: keys, fields: [field, config.guard] },
						context,
					);
					const payloads = new PayloadService(collection, { accountability, knex: database, schema: req.schema });
					const checkEach = await valueRulesApply({ accountability, action: 'update', collection }, context);
					const data = [];
					for (const [index, row] of rows.entries()) {
						const values = { [field]: row[field], [config.guard]: row[config.guard] };
						const check = checkEach || index === 0;
						data.push(await prepared(values, { accountability, action: 'update', collection, context, payloads, check }));
					}
					const activity = await activityRows({ schema: req.schema, accountability, collection, action: 'update', keys, PayloadService, knex: database });
					await database.transaction(async (trx) => {
						// One statement for the batch; the guard triggers still run for each row. The
						// two sent columns take each row's own value; any other column processing added
						// (a date-updated or user-updated field, a preset) is the same for every row.
						const set = {};
						for (const column of Object.keys(data[0])) {
							set[column] = [field, config.guard].includes(column)
								? trx.raw(`CASE ?? ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END`, [
										pk,
										...rows.flatMap((row, i) => [row[pk], data[i][column]]),
									])
								: data[0][column];
						}
						const count = await trx(collection).whereIn(pk, keys).update(set);
						if (count !== rows.length) throw new ForbiddenError(); // a row went away meanwhile
						await insertRows(trx, 'directus_activity', activity);
					});
					await purgeCache(env);
					res.json({ data: { updated: rows.length } });
				} catch (error) {
					next(await asDirectusError(error, logger));
				}
			});
		}

		if (config.appendOnly.size > 0) {
			router.post('/append/:collection', async (req, res, next) => {
				try {
					const { collection } = req.params;
					const info = servedCollection(req.schema, collection, config.appendOnly.has(collection));
					const rows = appendRows(req.body, config.maxRows, info);
					const accountability = req.accountability;
					const context = { knex: database, schema: req.schema };
					await assertCollectionActive({ accountability, collection, action: 'create' }, context);
					const fields = [...new Set(rows.flatMap((row) => Object.keys(row)))];
					await validateAccess({ accountability, action: 'create', collection, fields }, context);
					const payloads = new PayloadService(collection, { accountability, knex: database, schema: req.schema });
					const data = [];
					for (const row of rows) {
						data.push(await prepared(row, { accountability, action: 'create', collection, context, payloads, check: true, keepKey: true }));
					}
					const keys = data.map((row) => row[info.primary]);
					const activity = await activityRows({ schema: req.schema, accountability, collection, action: 'create', keys, PayloadService, knex: database });
					await database.transaction(async (trx) => {
						await insertRows(trx, collection, data);
						await insertRows(trx, 'directus_activity', activity);
					});
					await purgeCache(env);
					res.json({ data: { created: rows.length } });
				} catch (error) {
					next(await asDirectusError(error, logger));
				}
			});
		}
	},
};
