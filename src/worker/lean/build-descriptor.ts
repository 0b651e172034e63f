// Build step (`npm run build`): the trimmed Temporal API descriptor of the lean worker, written
// from @temporalio/proto's full root: the WorkflowService methods of LEAN_METHODS and every
// message and enum they reach, nothing else (about 1/50 of the API), as protobufjs JSON.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Enum, Namespace, ReflectionObject, Root, Service, Type } from 'protobufjs';
import { LEAN_METHODS, WORKFLOW_SERVICE, leanDescriptorPath } from './api';

type Json = Record<string, unknown> & { nested?: Record<string, Json> };

/** Whether `o` is a message type (by shape: the full root comes with its own copy of protobufjs). */
const isType = (o: ReflectionObject): o is Type => 'fieldsArray' in o && 'oneofsArray' in o;

/** The message and enum types `service`'s `methods` reach, by full name. */
export function reachableTypes(service: Service, methods: readonly string[]): Map<string, Type | Enum> {
  const found = new Map<string, Type | Enum>();
  const visit = (t: Type | Enum): void => {
    if (found.has(t.fullName)) return;
    found.set(t.fullName, t);
    if (!isType(t)) return;
    for (const f of t.fieldsArray) {
      f.resolve();
      if (f.resolvedType) visit(f.resolvedType);
    }
  };
  for (const name of methods) {
    const m = service.methods[name];
    if (!m) throw new Error(`${service.fullName} has no method ${name}`);
    m.resolve();
    visit(m.resolvedRequestType!);
    visit(m.resolvedResponseType!);
  }
  return found;
}

/** The JSON node at `fullName` (".a.b.C") in `tree`, creating namespaces on the way. */
function place(tree: Json, fullName: string): Json {
  let node = tree;
  for (const part of fullName.split('.').filter(Boolean)) {
    node.nested ??= {};
    node = node.nested[part] ??= {};
  }
  return node;
}

/** The trimmed descriptor: `service` with only `methods`, and the types they reach. */
export function trimmedDescriptor(root: Root, serviceName: string, methods: readonly string[]): Json {
  const service = root.lookupService(serviceName);
  const tree: Json = {};
  for (const [fullName, t] of reachableTypes(service, methods)) {
    // A type's own JSON without its nested types: those that are needed are placed on their own.
    const { nested: _drop, ...own } = t.toJSON() as unknown as Json;
    Object.assign(place(tree, fullName), own);
  }
  const svc = service.toJSON() as { methods: Record<string, unknown> };
  Object.assign(place(tree, service.fullName), {
    ...svc,
    methods: Object.fromEntries(methods.map((m) => [m, svc.methods[m]])),
  });
  return tree;
}

function main(): void {
  // The full API root (1.4 MB of JSON): only ever loaded here, at build time.
  const full = require('@temporalio/proto/protos/json-module') as Namespace;
  const out = leanDescriptorPath();
  const json = trimmedDescriptor(full.root, WORKFLOW_SERVICE, LEAN_METHODS);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(json));
  process.stdout.write(`lean worker API descriptor: ${path.relative(process.cwd(), out)} (${fs.statSync(out).size} bytes)\n`);
}

if (require.main === module) main();
