"""Contract validation as set-based SQL, generated from a contract.

Every record of a file is first projected to a common shape: for each contract field `f`, the
JSON type it arrived as (`t_f`: 'VARCHAR', 'BIGINT', 'DOUBLE', 'BOOLEAN', 'OBJECT', 'TIMESTAMPTZ',
'TIMESTAMP', 'NULL' or NULL when absent), its text (`s_f`) and its JSON text (`j_f`). JSONL and
Parquet files are projected differently, then validated and typed by the same SQL, so a record is
judged the same whichever format it came in. Each broken rule adds a machine-readable reason.
"""

from __future__ import annotations

from dagster_project.contracts import Contract, Field

OFFSET_TS_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"
NAIVE_TS_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"

_ACCEPTED_JSON_TYPES = {
    "string": ("VARCHAR",),
    "number": ("BIGINT", "UBIGINT", "HUGEINT", "DOUBLE"),
    "integer": ("BIGINT", "UBIGINT", "HUGEINT"),
    "boolean": ("BOOLEAN",),
    "object": ("OBJECT",),
    "timestamp": ("VARCHAR", "TIMESTAMPTZ", "TIMESTAMP"),
}


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


def _json_kind(j: str) -> str:
    """The JSON type of a JSON value's text, from its first character (no re-parse)."""
    return (
        f"case when {j} is null then null when left({j}, 1) = '\"' then 'VARCHAR' "
        f"when left({j}, 1) = '{{' then 'OBJECT' when left({j}, 1) = '[' then 'ARRAY' "
        f"when {j} in ('true', 'false') then 'BOOLEAN' when {j} = 'null' then 'NULL' "
        f"when regexp_full_match({j}, '-?[0-9]+') then 'BIGINT' else 'DOUBLE' end"
    )


def _json_text(j: str) -> str:
    """The text of a JSON value: strings unquoted (unescaped only when they contain escapes)."""
    return (
        f"case when left({j}, 1) = '\"' and not contains({j}, '\\') then substr({j}, 2, length({j}) - 2) "
        f"else {j} ->> '$' end"
    )


def jsonl_projection(contract: Contract, source: str) -> str:
    """Project a relation of (file_idx, line_number, raw_text) JSON lines to the common shape.

    Each line is parsed once into a struct of per-field JSON texts; the type of each value is then
    read from its first character, which is far cheaper than asking the JSON parser again.
    """
    struct = "{" + ", ".join(f'"{f.name}": "JSON"' for f in contract.fields) + "}"
    known = _in_list(contract.field_names)
    per_field = []
    for f in contract.fields:
        j = f"v.{q(f.name)}"
        per_field.append(
            f"{_json_kind(j)} as {q('t_' + f.name)}, {_json_text(j)} as {q('s_' + f.name)}, "
            f"{j}::varchar as {q('j_' + f.name)}"
        )
    return f"""
    select file_idx, line_number, raw_text, root_reason,
           case when len(extra_keys) > 0 then to_json(map_from_entries(list_transform(extra_keys,
                lambda k: struct_pack(k := k, v := json_extract(raw_text, '$."' || k || '"')))))::varchar
           end as extra_json,
           {", ".join(per_field)}
    from (
        select file_idx, line_number, raw_text, root_reason,
               case when root_reason is null then json_transform(raw_text, {lit(struct)}) end as v,
               case when root_reason is null
                    then list_filter(json_keys(raw_text), lambda k: k not in {known}) end as extra_keys
        from (
            select file_idx, line_number, raw_text,
                   -- the usual line is a valid JSON object: the trims run only for the others
                   case when left(raw_text, 1) = '{{' and json_valid(raw_text) then null
                        when trim(raw_text) = '' then 'blank_line'
                        when not json_valid(raw_text) then 'malformed_json'
                        when left(ltrim(raw_text), 1) <> '{{' then 'not_a_json_object' end as root_reason
            from {source}
        )
    )
    """


def _parquet_json_type(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t == "VARCHAR":
        return "VARCHAR"
    if t in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "HUGEINT"}:
        return "BIGINT"
    if t in {"DOUBLE", "FLOAT"} or t.startswith("DECIMAL"):
        return "DOUBLE"
    if t == "BOOLEAN":
        return "BOOLEAN"
    if t == "TIMESTAMP WITH TIME ZONE":
        return "TIMESTAMPTZ"
    if t.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    if t.startswith("STRUCT") or t.startswith("MAP") or t == "JSON":
        return "OBJECT"
    if t.endswith("[]"):
        return "ARRAY"
    return t


def parquet_projection(contract: Contract, source: str, columns: dict[str, str], file_idx: str) -> str:
    """Project a Parquet relation (with a `file_row_number` column) to the common shape.

    The JSON-like type of each field comes from the column's Parquet type; a naive (not
    UTC-adjusted) timestamp column is typed 'TIMESTAMP' and so fails as a naive timestamp.
    """
    per_field = []
    for f in contract.fields:
        if f.name not in columns:
            per_field.append(
                f"null::varchar as {q('t_' + f.name)}, null::varchar as {q('s_' + f.name)}, "
                f"null::varchar as {q('j_' + f.name)}"
            )
            continue
        col = q(f.name)
        json_type = _parquet_json_type(columns[f.name])
        per_field.append(
            f"case when {col} is null then 'NULL' else {lit(json_type)} end as {q('t_' + f.name)}, "
            f"{col}::varchar as {q('s_' + f.name)}, "
            f"to_json({col})::varchar as {q('j_' + f.name)}"
        )
    extras = [c for c in columns if c not in contract.field_names and c not in {"file_row_number", "filename"}]
    if extras:
        extra_json = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in extras) + "))::varchar"
    else:
        extra_json = "null::varchar"
    return f"""
    select {file_idx} as file_idx, file_row_number + 1 as line_number, null::varchar as raw_text,
           null::varchar as root_reason, {extra_json} as extra_json,
           {", ".join(per_field)}
    from {source}
    """


def _present(f: Field) -> str:
    return f"({q('t_' + f.name)} is not null and {q('t_' + f.name)} <> 'NULL')"


def _field_reasons(contract: Contract, f: Field) -> list[str]:
    t, s, v = q("t_" + f.name), q("s_" + f.name), q("v_" + f.name)
    present = _present(f)
    reasons: list[str] = []
    if f.required:
        reasons.append(f"case when not {present} then 'missing_required_field:{f.name}' end")
    for other, values in f.required_when.items():
        cond = f"{q('s_' + other)} in {_in_list(values)}"
        reasons.append(f"case when {cond} and not {present} then 'missing_required_field:{f.name}' end")
    accepted = _in_list(_ACCEPTED_JSON_TYPES[f.logical_type])
    reasons.append(f"case when {present} and {t} not in {accepted} then 'wrong_type:{f.name}' end")
    ok_type = f"({present} and {t} in {accepted})"
    if f.logical_type == "timestamp":
        reasons.append(
            f"case when {ok_type} and ({t} = 'TIMESTAMP' or ({t} = 'VARCHAR' and "
            f"regexp_full_match({s}, {lit(NAIVE_TS_RE)}))) then 'naive_timestamp:{f.name}' "
            f"when {ok_type} and {t} = 'VARCHAR' and "
            f"(not regexp_full_match({s}, {lit(OFFSET_TS_RE)}) or {v} is null) "
            f"then 'invalid_timestamp:{f.name}' end"
        )
    if f.enum is not None:
        reasons.append(f"case when {ok_type} and {s} not in {_in_list(f.enum)} then 'not_in_enum:{f.name}' end")
    if f.min_length is not None or f.max_length is not None:
        lo = f.min_length if f.min_length is not None else 0
        hi = f.max_length if f.max_length is not None else 2**31
        reasons.append(
            f"case when {ok_type} and length({s}) not between {lo} and {hi} "
            f"then 'length_out_of_range:{f.name}' end"
        )
    if f.pattern is not None:
        reasons.append(
            f"case when {ok_type} and not regexp_full_match({s}, {lit(f.pattern)}) "
            f"then 'pattern_mismatch:{f.name}' end"
        )
    if f.logical_type in {"number", "integer"}:
        reasons.append(f"case when {ok_type} and {v} is null then 'out_of_range:{f.name}' end")
        if f.minimum is not None:
            reasons.append(f"case when {ok_type} and {v} < {lit(f.minimum)} then 'below_minimum:{f.name}' end")
        if f.maximum is not None:
            reasons.append(f"case when {ok_type} and {v} > {lit(f.maximum)} then 'above_maximum:{f.name}' end")
    return reasons


def typed_value(f: Field) -> str:
    """The field's value cast to its stored type; null when absent or not castable."""
    s = q("s_" + f.name)
    if f.logical_type == "object":
        return f"case when {q('t_' + f.name)} = 'OBJECT' then {q('j_' + f.name)}::json end"
    if f.logical_type == "string":
        return f"case when {_present(f)} then {s} end"
    return f"case when {_present(f)} then try_cast({s} as {f.physical_type}) end"


def _normalized_text(f: Field) -> str:
    value = q("v_" + f.name)
    if f.logical_type == "timestamp":
        value = f"strftime({value}, '%Y-%m-%dT%H:%M:%S.%f')"
    return f"coalesce(({value})::varchar, chr(0))"


def validated_select(contract: Contract, projected: str) -> str:
    """Reasons, typed values, primary key and content hash of every projected record.

    Typed values are computed once in an inner projection and reused by the checks, the hash and
    the output columns.
    """
    field_reasons = [r for f in contract.fields for r in _field_reasons(contract, f)]
    reasons = "nullif(concat_ws(';', " + ", ".join(field_reasons) + "), '')"
    typed_inner = ", ".join(f"{typed_value(f)} as {q('v_' + f.name)}" for f in contract.fields)
    typed_out = ", ".join(f"{q('v_' + f.name)} as {q(f.name)}" for f in contract.fields)
    raw_texts = "".join(
        f", {q('s_' + f.name)} as {q(f.name + '_raw_text')}" for f in contract.fields if f.keep_raw_text
    )
    # A 128-bit digest of the normalized record: compact to store and compare, and only ever
    # compared between deliveries of the same id.
    record_hash = "md5_number(concat_ws(chr(31), " + ", ".join(_normalized_text(f) for f in contract.fields) + "))"
    raw_text_of_row = "json_object(" + ", ".join(
        f"{lit(f.name)}, {q('j_' + f.name)}::json" for f in contract.fields
    ) + ")::varchar"
    return f"""
    select file_idx, line_number,
           -- The text is kept for rejected records only: valid ones are stored typed.
           case when reason is null then null when raw_text is null then {raw_text_of_row} else raw_text end
               as raw_text,
           reason, extra_json, _pk, _record_hash, {typed_out}{raw_texts}
    from (
        select *, coalesce(root_reason, {reasons}) as reason,
               {q('s_' + contract.primary_key)} as _pk,
               {record_hash} as _record_hash
        from (select *, {typed_inner} from ({projected}))
    )
    """
