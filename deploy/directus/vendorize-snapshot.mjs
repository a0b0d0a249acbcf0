// Adapt the committed schema snapshot (made on SQLite) to the database it is applied to.
//
//   node vendorize-snapshot.mjs <committed.yaml> <current-db.yaml> <out.yaml>
//
// A snapshot records physical column details that differ between databases for the same
// Directus field type (data_type "varchar" vs "character varying", a uuid key as char(36) vs
// uuid, integer precision). Applied unchanged to PostgreSQL, the second `schema apply` would try
// to "fix" those details and fail (altering a primary key). So for every field that already
// exists with the same Directus type, the database's own physical details are kept; everything
// else (new fields, lengths of strings, nullability, indexes, uniqueness, meta) comes from the
// committed snapshot. Used by directusctl.apply_schema for databases other than SQLite.
import { readFileSync, writeFileSync } from 'node:fs';
import yaml from 'js-yaml';

const [wantedPath, currentPath, outPath] = process.argv.slice(2);
if (!outPath) {
	console.error('usage: node vendorize-snapshot.mjs <committed.yaml> <current-db.yaml> <out.yaml>');
	process.exit(2);
}
const wanted = yaml.load(readFileSync(wantedPath, 'utf8'));
const current = yaml.load(readFileSync(currentPath, 'utf8'));

const key = (field) => `${field.collection}.${field.field}`;
const existing = new Map((current.fields ?? []).map((field) => [key(field), field]));
const PHYSICAL = ['data_type', 'numeric_precision', 'numeric_scale'];

for (const field of wanted.fields ?? []) {
	const have = existing.get(key(field));
	if (!have || have.type !== field.type || !have.schema || !field.schema) continue;
	for (const name of PHYSICAL) field.schema[name] = have.schema[name];
	// A uuid's length is the database's business (36 on SQLite, none for a native uuid).
	if (field.type === 'uuid') field.schema.max_length = have.schema.max_length;
}
wanted.vendor = current.vendor;
writeFileSync(outPath, yaml.dump(wanted, { lineWidth: -1 }));
