// Search: a page of hits for a query and its filters (GET /api/v1/search).
import { api, unwrap, type Schemas } from "./client";
import type { paths } from "./schema";

export type SearchPage = Schemas["SearchPage"];
export type SearchHit = Schemas["SearchHit"];
export type SearchQuery = NonNullable<paths["/api/v1/search"]["get"]["parameters"]["query"]>;

export function searchCards(query: SearchQuery, signal: AbortSignal): Promise<SearchPage> {
  return unwrap(api.GET("/api/v1/search", { params: { query }, signal }));
}
