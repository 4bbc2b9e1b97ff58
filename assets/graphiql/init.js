// Starts GraphiQL against the page's own endpoint. Served by tenantgate beside the page,
// so that the page's Content-Security-Policy admits no inline script.
const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultEditorToolsVisibility: true,
    defaultHeaders: '{\n  "Authorization": "Bearer <accessToken from logIn>"\n}',
  }),
);
