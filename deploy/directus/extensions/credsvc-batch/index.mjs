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
// What it does not do, by design: no item hooks or flows, no directus_activity or revision rows
// (audit_log is credsvc's trail; a revision would keep old ciphertext). Only the collections
// named in the environment are served, and a guarded update must set exactly the value and a
// non-empty guard: it is a compare-and-set and nothing else.
//
// Configuration (set by deploy/directus/directusctl.directus_env from credsvc.model):
//   CREDSVC_GUARD_FIELD   the guard column (rewrap_guard)
//   CREDSVC_GUARDED       <collection>:<value field>,... the guarded collections
//   CREDSVC_APPEND_ONLY   <collection>,...               the collections `append` serves
import { validateAccess } from '@directus/api/permissions/modules/validate-access/validate-access';
import { processPayload } from '@directus/api/permissions/modules/process-payload/process-payload';
import { translateDatabaseError } from '@directus/api/database/errors/translate';
import { getCache } from '@directus/api/cache';
import { ForbiddenError, InvalidPayloadError, isDirectusError } from '@directus/errors';

// Rows in one request; the request body is bounded by Directus's MAX_PAYLOAD_SIZE as well.
export const MAX_ROWS = 2000;

function parseList(value) {
	return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function settings(env) {
	const guarded = new Map();
	for (const pair of parseList(env.CREDSVC_GUARDED)) {
		const [collection, field] = pair.split(':');
		if (collection && field) guarded.set(collection, field);
	}
	return { guard: env.CREDSVC_GUARD_FIELD || null, guarded, appendOnly: new Set(parseList(env.CREDSVC_APPEND_ONLY)) };
}

function forbidden() {
	// Directus's answer for a collection one may not use or that does not exist.
	return new ForbiddenError();
}

function isPlainObject(value) {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rowsOf(body) {
	if (!Array.isArray(body) || body.length === 0) {
		throw new InvalidPayloadError({ reason: 'Expected a non-empty JSON array of rows' });
	}
	if (body.length > MAX_ROWS) throw new InvalidPayloadError({ reason: `At most ${MAX_ROWS} rows a request` });
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

function guardedRows(body, pk, field, guard) {
	const rows = rowsOf(body);
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

async function asDirectusError(error) {
	if (isDirectusError(error) || Array.isArray(error)) return error;
	// A database error (a guard abort among them) in the shape the item service gives it.
	return await translateDatabaseError(error, null);
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
				const rows = guardedRows(req.body, pk, field, config.guard);
				const accountability = req.accountability;
				await database.transaction(async (trx) => {
					const context = { knex: trx, schema: req.schema };
					await validateAccess(
						{ accountability, action: 'update', collection, primaryKeys: rows.map((r) => r[pk]), fields: [field, config.guard] },
						context,
					);
					const payloads = new PayloadService(collection, { accountability, knex: trx, schema: req.schema });
					for (const row of rows) {
						let data = { [field]: row[field], [config.guard]: row[config.guard] };
						if (accountability && !accountability.admin) {
							data = await processPayload({ accountability, action: 'update', collection, payload: data }, context);
						}
						data = await payloads.processValues('update', data); // one object in, one out
						const count = await trx(collection).where(pk, row[pk]).update(data);
						if (count !== 1) throw forbidden(); // the row went away after the access check
					}
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
				const rows = rowsOf(req.body);
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
					await trx.batchInsert(collection, prepared, 200);
				});
				await purgeCache(env);
				res.json({ data: { created: rows.length } });
			} catch (error) {
				next(await asDirectusError(error));
			}
		});
	},
};
