-- Argo CD health of spinop's objects (SpinnakerCluster, SpinnakerAccount, SpinnakerPipeline): the same reading as
-- kstatus (Flux). spinop sets Stalled=True when only a person can fix the object (Degraded), Reconciling=True while it
-- works on it (Progressing), and Ready=True with neither once done (Healthy). A spec change spinop has not handled
-- yet (status.observedGeneration behind metadata.generation) is Progressing. Install: docs/install.md, "Argo CD".
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted: spinop is removing what it made"
  return hs
end
if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "spinop has not reported on this object yet"
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "spinop has not handled generation " .. tostring(generation) .. " yet"
  return hs
end
local found = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.status == "True" then
      found[condition.type] = condition
    end
  end
end
local function describe(condition)
  return (condition.reason or condition.type) .. ": " .. (condition.message or "")
end
if found["Stalled"] ~= nil then
  hs.status = "Degraded"
  hs.message = describe(found["Stalled"])
  return hs
end
if found["Reconciling"] ~= nil then
  hs.status = "Progressing"
  hs.message = describe(found["Reconciling"])
  return hs
end
if found["Ready"] ~= nil then
  hs.status = "Healthy"
  hs.message = describe(found["Ready"])
  return hs
end
hs.status = "Progressing"
hs.message = "not Ready yet"
return hs
