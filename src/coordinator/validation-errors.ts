// Turns a schema validation failure into a message and the field it is about, so a 400
// says "target.node is required" rather than an Ajv error object.

export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** "body" + "/target/node" -> "target.node"; the location stays out of the field name. */
export function fieldOf(e: SchemaError): string {
  const base = e.instancePath.split('/').filter(Boolean).join('.');
  const extra =
    e.keyword === 'required'
      ? String(e.params.missingProperty)
      : e.keyword === 'additionalProperties'
        ? String(e.params.additionalProperty)
        : e.keyword === 'propertyNames'
          ? String(e.params.propertyName ?? '')
          : '';
  return [base, extra].filter(Boolean).join('.');
}

export function describeSchemaError(e: SchemaError, location: string): { field: string; message: string } {
  const field = fieldOf(e);
  const where = field ? `${location === 'body' ? '' : `${location} `}${field}` : location;
  switch (e.keyword) {
    case 'required':
      return { field, message: `${where} is required` };
    case 'additionalProperties':
      return { field, message: `${where} is not a known field` };
    case 'type':
      return { field, message: `${where} must be ${String(e.params.type)}` };
    default:
      return { field, message: `${where} ${e.message ?? 'is invalid'}` };
  }
}
