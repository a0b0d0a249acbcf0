// credsvc-batch: two batch writes that Directus's item service makes one row at a time.
//
//   POST /credsvc-batch/guarded-update/<collection>   [{id, <value field>, <guard field>}, ...]
//   POST /credsvc-batch/append/<collection>           [{<field>: <value>, ...}, ...]
//
// Directus's item service runs each row of a batch through its whole pipeline (permission query,
// payload processing, hooks, activity row, its own statements): 1.5 to 3 ms of Directus's CPU a
// row, which capped `keys rewrap` near 500 rows/s and made each reveal's audit row cost several
// GETs (docs/benchmarks.md). Here a batch is checked the way the item service checks it, once:
//
// - the caller's access: Directus's own validateAccess, for the update on exactly these primary
//   keys and fields (its item rules included) or for the create on these fields;
// - each row: Directus's own processPayload (field permissions, permission validation and
//   presets, field validation) and the PayloadService (uuid, timestamps, casts);
//
// and then written with plain statements in one transaction: all rows or none. Every other rule
// stays in the database: the rewrap guard triggers (deploy/directus/guards.mjs) fire on these
// UPDATEs as on any other, and a guard abort rolls the whole batch back and answers Directus's own
// 400 NOT_NULL_VIOLATION naming the guard column, as the item service would.
//
// Like the item service it records a directus_activity row per written row (who, from where,
// which item) when the collection tracks accountability. What it does not do, by design: no item
// hooks or flows, and no revision rows (credsvc's collections use `accountability: activity`,
// which keeps none; a revision would keep an old ciphertext). Only the collections
// named in the environment are served, and a guarded update must set exactly the value and a
// non-empty guard: it is a compare-and-set and nothing else.
//
// Configuration (set by deploy/directus/directusctl.directus_env from credsvc.model):
//   CREDSVC_GUARD_FIELD   the guard column (rewrap_guard)
//   CREDSVC_GUARDED       <collection>:<value field>,... the guarded collections
//   CREDSVC_APPEND_ONLY   <collection>,...               the collections `append` serves
//   CREDSVC_BATCH_MAX_ROWS                                rows in one request, at most
import { validateAccess } from '@directus/api/permissions/modules/validate-access/validate-access';
import { processPayload } from '@directus/api/permissions/modules/process-payload/process-payload';
import { fetchPolicies } from '@directus/api/permissions/lib/fetch-policies';
import { fetchPermissions } from '@directus/api/permissions/lib/fetch-permissions';
import { translateDatabaseError } from '@directus/api/database/errors/translate';
import { getCache } from '@directus/api/cache';
import { ForbiddenError, InvalidPayloadError, isDirectusError } from '@directus/errors';

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

function forbidden() {
	// Directus's answer for a collection one may not use or that does not exist.
	return new ForbiddenError();
}

function isPlainObject(value) {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
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

// Whether writing a row can be refused for its values rather than its fields: a permission
// validation or preset of the caller's for this action, or a field validation in the schema.
// Without any, processPayload's verdict on one row of a guarded batch (its fields, which are the
// same in every row, whose values the extension has checked are strings) is every row's.
async function valueRulesApply({ accountability, action, collection }, context) {
	if (!accountability || accountability.admin) return false;
	const policies = await fetchPolicies(accountability, context);
	const permissions = await fetchPermissions({ action, policies, collections: [collection], accountability }, context);
	const nonEmpty = (rule) => rule && Object.keys(rule).length > 0;
	if (permissions.some((p) => nonEmpty(p.validation) || nonEmpty(p.presets))) return true;
	return Object.values(context.schema.collections[collection].fields).some((f) => nonEmpty(f.validation));
}

async function asDirectusError(error) {
	if (isDirectusError(error) || Array.isArray(error)) return error;
	// A database error (a guard abort among them) in the shape the item service gives it.
	return await translateDatabaseError(error, null);
}

// Rows per INSERT statement: knex writes a multi-row INSERT on SQLite as a compound SELECT,
// which SQLite caps at 500 terms (and at 32766 variables); all statements share one transaction.
const INSERT_CHUNK = 100;

async function insertRows(trx, table, rows) {
	for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
		await trx(table).insert(rows.slice(start, start + INSERT_CHUNK));
	}
}

// The directus_activity rows the item service writes for these rows (services/items.js: one per
// item, when the request has an accountability and the collection's accountability is set).
async function trackActivity({ trx, schema, accountability, collection, action, keys, PayloadService }) {
	if (!accountability || schema.collections[collection].accountability === null) return;
	const payloads = new PayloadService('directus_activity', { knex: trx, schema });
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
	await insertRows(trx, 'directus_activity', rows);
}

async function purgeCache(env) {
	// What the item service does after a write when Directus's data cache is on.
	if (String(env.CACHE_AUTO_PURGE) !== 'true') return;
	const { cache } = getCache();
	if (cache) await cache.clear();
}

export default {
	id: 'credsvc-batch',
	handler: (router, { database, env, services }) => {
		const config = settings(process.env);
		const { PayloadService } = services;

		router.post('/guarded-update/:collection', async (req, res, next) => {
			try {
				const { collection } = req.params;
				const field = config.guarded.get(collection);
				const info = req.schema.collections[collection];
				if (!field || !config.guard || !info) throw forbidden();
				const pk = info.primary;
				const rows = guardedRows(req.body, config.maxRows, pk, field, config.guard);
				const accountability = req.accountability;
				await database.transaction(async (trx) => {
					const context = { knex: trx, schema: req.schema };
					await validateAccess(
						{ accountability, action: 'update', collection, primaryKeys: rows.map((r) => r[pk]), fields: [field, config.guard] },
						context,
					);
					const payloads = new PayloadService(collection, { accountability, knex: trx, schema: req.schema });
					const checkEach = await valueRulesApply({ accountability, action: 'update', collection }, context);
					const processed = [];
					for (const [index, row] of rows.entries()) {
						let data = { [field]: row[field], [config.guard]: row[config.guard] };
						if (accountability && !accountability.admin && (checkEach || index === 0)) {
							data = await processPayload({ accountability, action: 'update', collection, payload: data }, context);
						}
						processed.push(await payloads.processValues('update', data)); // one object in, one out
					}
					// One statement for the batch; the guard triggers still run for each row.
					const set = {};
					for (const column of Object.keys(processed[0])) {
						set[column] = [field, config.guard].includes(column)
							? trx.raw(`CASE ?? ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END`, [
									pk,
									...rows.flatMap((row, i) => [row[pk], processed[i][column]]),
								])
							: processed[0][column]; // date-updated, user-updated: one instant and one user a batch
					}
					const count = await trx(collection).whereIn(pk, rows.map((r) => r[pk])).update(set);
					if (count !== rows.length) throw forbidden(); // a row went away after the access check
					const keys = rows.map((r) => r[pk]);
					await trackActivity({ trx, schema: req.schema, accountability, collection, action: 'update', keys, PayloadService });
				});
				await purgeCache(env);
				res.json({ data: { updated: rows.length } });
			} catch (error) {
				next(await asDirectusError(error));
			}
		});

		router.post('/append/:collection', async (req, res, next) => {
			try {
				const { collection } = req.params;
				const info = req.schema.collections[collection];
				if (!config.appendOnly.has(collection) || !info) throw forbidden();
				const rows = rowsOf(req.body, config.maxRows);
				const fields = [...new Set(rows.flatMap((row) => Object.keys(row)))];
				const accountability = req.accountability;
				await database.transaction(async (trx) => {
					const context = { knex: trx, schema: req.schema };
					await validateAccess({ accountability, action: 'create', collection, fields }, context);
					const payloads = new PayloadService(collection, { accountability, knex: trx, schema: req.schema });
					const prepared = [];
					for (const row of rows) {
						let data = { ...row };
						if (accountability && !accountability.admin) {
							data = await processPayload({ accountability, action: 'create', collection, payload: data }, context);
						}
						prepared.push(await payloads.processValues('create', data));
					}
					await insertRows(trx, collection, prepared);
					const keys = prepared.map((row) => row[info.primary]);
					await trackActivity({ trx, schema: req.schema, accountability, collection, action: 'create', keys, PayloadService });
				});
				await purgeCache(env);
				res.json({ data: { created: rows.length } });
			} catch (error) {
				next(await asDirectusError(error));
			}
		});
	},
};
